"""Backends: implementations of core.Backend (local vLLM engine, scripted fake)."""
