"""Sizing: which GLM fits which GPUs, with how much context, before vLLM allocates anything."""
