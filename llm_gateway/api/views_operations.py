"""Django views over the operation handlers (the ASGI router serves them directly)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from llm_gateway.api.endpoints_operations import HANDLERS
from llm_gateway.api.endpoints_resources import model_detail_handler, response_item_handler
from llm_gateway.api.http import django_served, from_django, to_django


@csrf_exempt
async def operation(request: HttpRequest) -> HttpResponse:
    return await django_served(HANDLERS[request.path_info], request)


@csrf_exempt
async def response_item(request: HttpRequest, response_id: str) -> HttpResponse:
    return to_django(await response_item_handler(from_django(request), response_id))


@csrf_exempt  # its 405 is an OpenAI error, not CSRF's HTML page
async def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    return to_django(await model_detail_handler(from_django(request), model_id))
