"""Template context every page needs."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def gateway_status(request: HttpRequest) -> dict[str, object]:
    """Tell the layout whether answers are coming from the mock provider."""
    return {"mock_provider_active": not settings.OPENAI_API_KEY}
