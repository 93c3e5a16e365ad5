"""glm-serve: the HTTP server around GLM backends (core, backends, http, wire formats, app, CLI)."""
