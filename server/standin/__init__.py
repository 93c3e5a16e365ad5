"""Offline stand-ins of outside services (the hosted GLM API), for tests, benchmarks and agent development."""

# On the stand-in's /models answer: the share of tools-workload answers it gets wrong on purpose, so that
# `glm-serve bench` can say so in its report (the bench, a client sharing no code, reads it by name).
STANDIN_HEADER = "x-glm-serve-standin-tool-error-rate"
