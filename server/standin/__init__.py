"""Offline stand-ins of outside services (the hosted GLM API), for tests, benchmarks and agent development."""
