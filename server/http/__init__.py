"""HTTP plumbing every wire format shares: bodies, auth, SSE framing and responses, disconnects, metrics."""
