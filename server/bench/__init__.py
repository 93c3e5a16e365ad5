"""`glm-serve bench`: this box against the hosted API (or any OpenAI-compatible server), side by side."""
