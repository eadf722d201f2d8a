"""Provider implementations: one attempt each, in OpenAI's chat shape.

Providers import neither the ORM nor costs (import-linter checks it): which
providers exist comes from ``llm_gateway.provider_registry``, prices from
costs through the manager (or the pricer registered with the interface).
"""
