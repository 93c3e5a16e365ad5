"""OpenAI-compatible wire format: chat completions, completions, models."""
