"""The local wing: GLM weights served by vLLM's engine in this process (prompt, constraints, tiny demo)."""
