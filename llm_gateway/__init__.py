"""The gateway: providers, routing, retries and the record of every call."""
