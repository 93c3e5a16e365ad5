"""OpenAI Responses wire format (what Codex CLI and the Agents SDK speak): /v1/responses."""
