"""Backends: which one serves (choice), the local and remote wings, and the fallback and fake backends."""
