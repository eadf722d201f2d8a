"""Request and response bodies for synthetic calls, stored as the gateway stores them.

Each agent asks what such an agent asks; a few prompts carry a pasted secret,
so the request detail shows the redaction working. Bodies go through the same
``redact`` as real records before they are written.
"""

from __future__ import annotations

import random
from typing import Any

from common.redaction import redact

PROMPTS = {
    "CTO Agent": (
        "Summarise the trade-offs of moving our batch jobs from EC2 to Fargate.",
        "Draft a one-page architecture decision record for adopting PostgreSQL logical "
        "replication.",
        "Our deploy pipeline uses the key sk-proj-4bS9x0EXAMPLEdoNotUse1234567890abcdEF. "
        "Is it safe to keep it in the CI variables?",
    ),
    "Cloud Architect": (
        "Propose a VPC layout for three environments with shared egress.",
        "Compare the monthly cost of m7g.large and c7g.xlarge for a CPU-bound service.",
    ),
    "Research Agent": (
        "List recent approaches to long-context retrieval and their evaluation datasets.",
        "Explain the difference between speculative decoding and Medusa heads.",
    ),
    "Support Bot": (
        "Customer asks how to reset their password; answer in two sentences.",
        "A customer wants a refund for a duplicate charge on invoice INV-20931.",
        "Translate this reply to German: 'Your ticket has been escalated.'",
    ),
    "Compliance Agent": (
        "Does this retention policy meet GDPR Article 5(1)(e)? Policy: keep logs 400 days.",
        "Flag any personal data in: 'Contact Jane Roe at jane.roe@example.com.'",
    ),
}
ANSWER = (
    "Here is a concise answer. First, the main constraint is cost predictability; "
    "second, the operational burden; third, the migration risk. In short: start small, "
    "measure, then move the rest."
)


def demo_bodies(rng: random.Random, call: Any) -> tuple[dict, dict]:
    """(request body, response body) for one synthetic call, redacted."""
    prompt = rng.choice(PROMPTS.get(call.agent_name, PROMPTS["Support Bot"]))
    messages = [
        {"role": "system", "content": f"You are the {call.agent_name}."},
        {"role": "user", "content": prompt},
    ]
    answer = {"role": "assistant", "content": ANSWER}
    return chat_exchange(call, messages, answer, temperature=rng.choice((0, 0.2, 0.7)))


def chat_exchange(
    call: Any, messages: list[dict[str, Any]], answer: dict[str, Any], **params: Any
) -> tuple[dict, dict]:
    """A chat completion's stored (request, response), redacted as the gateway
    stores them; a failed call's response is the provider's error."""
    request = {"model": call.requested_model, "messages": messages, **params}
    request["stream"] = call.stream
    if call.status != "success":
        error = {"message": call.error_message or "upstream failed", "type": call.error_type}
        return redact(request), redact({"error": error})
    response = {
        "id": f"chatcmpl-demo{call.id.hex[:20]}",
        "object": "chat.completion",
        "model": call.model,
        "choices": [{"index": 0, "message": answer, "finish_reason": call.finish_reason or "stop"}],
        "usage": {
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "total_tokens": call.total_tokens,
        },
    }
    return redact(request), redact(response)
