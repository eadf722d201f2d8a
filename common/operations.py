"""The operations a call can be (its endpoint's kind), named once for every layer.

The call log stores one of these per call; the dashboards filter and group by
it. How each operation is called and read lives with the gateway
(llm_gateway.operations)."""

from __future__ import annotations

CHAT = "chat"
EMBEDDINGS = "embeddings"
RESPONSES = "responses"
COMPLETIONS = "completions"
MODERATIONS = "moderations"
MESSAGES = "messages"
OPERATIONS = (CHAT, EMBEDDINGS, RESPONSES, COMPLETIONS, MODERATIONS, MESSAGES)
