"""The remote wing: GLM served elsewhere (the hosted BigModel / Z.ai API, any OpenAI-compatible server)."""
