"""``POST /api/v1/feedback``: a score for one of the calling key's calls.

    {"request_id": "<x-gateway-request-id>", "score": 1, "comment": "…", "name": "user"}

201 with the stored feedback; 404 for a call this key did not make.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from calls.recorder import records_flush
from llm_gateway.api.auth import api_key_authenticate, request_body_check
from llm_gateway.api.errors import APIError, error_api_response
from llm_gateway.api.http import ApiRequest, ApiResponse, from_django, json_response, to_django
from llm_gateway.api.parsing import parse_json
from validation.feedback import FeedbackError, feedback_record
from validation.models import Feedback

afeedback_record = sync_to_async(feedback_record)


async def feedback_handler(request: ApiRequest) -> ApiResponse:
    if request.method != "POST":
        return error_api_response(405, "Use POST for /api/v1/feedback.", code="method_not_allowed")
    try:
        key = await api_key_authenticate(request.headers, request=request, operation="feedback")
        body = parse_json(request_body_check(request))
        fields = {name: body.get(name) for name in ("request_id", "score", "comment", "name")}
        if fields["request_id"] is None or fields["score"] is None:
            raise APIError(400, "'request_id' and 'score' are required.", param="request_id")
        stored = await _record(fields, key.id)
    except APIError as refusal:
        return refusal.api_response()
    except FeedbackError as error:
        status = 404 if error.not_found else 400
        code = "not_found" if error.not_found else None
        return error_api_response(status, error.message, param=error.param, code=code)
    return json_response(feedback_json(stored), status=201)


async def _record(fields: dict, key_id: int) -> Feedback:
    try:
        return await afeedback_record(gateway_key_id=key_id, **fields)
    except FeedbackError as error:
        if not error.not_found:
            raise
    # The call may still be in this server's record queue (written just after
    # its answer left): let it reach the database, then look once more.
    await records_flush()
    return await afeedback_record(gateway_key_id=key_id, **fields)


def feedback_json(feedback: Feedback) -> dict:
    return {
        "object": "feedback",
        "id": feedback.id,
        "request_id": str(feedback.call_id),
        "name": feedback.name,
        "score": feedback.score,
        "comment": feedback.comment,
        "created_at": feedback.created_at.isoformat(),
    }


@csrf_exempt
async def feedback(request: HttpRequest) -> HttpResponse:
    return to_django(await feedback_handler(from_django(request)))
