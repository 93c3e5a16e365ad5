"""glm-serve: the HTTP server (filled in by the engine issue)."""
