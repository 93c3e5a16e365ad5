"""Anthropic Messages wire format (what Claude Code speaks): messages, streaming, count_tokens."""
