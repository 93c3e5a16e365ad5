"""Wire-neutral core: requests, events, errors, the Backend protocol, and the fold of a stream."""
