"""Reads of the call log by attribution: the request explorer's session, user,
tag and trace filters, and the trace link of a call."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from calls.models import LLMCall
from dashkit.filters import DashboardFilters


def calls_attributed(calls: QuerySet[LLMCall], *, filters: DashboardFilters) -> QuerySet[LLMCall]:
    """``calls`` narrowed to the filters' session, end user, trace and tag."""
    exact = {"session_id": filters.session, "end_user": filters.user, "trace_id": filters.trace}
    calls = calls.filter(**{k: v for k, v in exact.items() if v})
    pair = filters.tag_pair
    if pair is None or not pair[0]:
        return calls
    name, value = pair
    if not value:
        return calls.filter(tags__has_key=name)
    if connection.vendor == "postgresql":
        # Containment is what the GIN index on tags answers (migration 0007).
        return calls.filter(tags__contains={name: value})
    # A KeyTransform, not ``tags__<name>``: a tag name may itself contain "__".
    return calls.alias(tag_value=KeyTransform(name, "tags")).filter(tag_value=value)


def trace_url(trace_id: str) -> str | None:
    """The call's trace in the operator's tracing UI (``OTEL_TRACE_URL_TEMPLATE``)."""
    template = settings.OTEL_TRACE_URL_TEMPLATE
    if not (template and trace_id):
        return None
    return template.replace("{trace_id}", trace_id)
