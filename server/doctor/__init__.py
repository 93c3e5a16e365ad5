"""glm-serve doctor: checks that this box serves GLM right, and a report to attach to a bug."""
