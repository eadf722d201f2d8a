"""The call log: LLMCall, GatewayKey, Provider and the one writer of call rows."""
