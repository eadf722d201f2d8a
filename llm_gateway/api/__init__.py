"""The OpenAI-compatible HTTP API agents call with the plain OpenAI SDK."""
