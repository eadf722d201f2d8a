"""Project middleware.

Both classes are async-capable: a sync-only middleware would push every
``/v1`` gateway request through a thread hop, which the hot path cannot afford.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware

GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, but without forcing the rest of the chain into sync mode."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        with warnings.catch_warnings():
            # STATIC_ROOT exists only after collectstatic; the finders serve meanwhile.
            warnings.filterwarnings("ignore", message="No directory at")
            super().__init__(get_response)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[override]
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    def _static_file(self, request: HttpRequest):
        if not request.path_info.startswith(settings.STATIC_URL):
            return None
        if self.autorefresh:
            return self.find_file(request.path_info)
        return self.files.get(request.path_info)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        static_file = (
            await sync_to_async(self._static_file)(request)
            if self.autorefresh
            else (self._static_file(request))
        )
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)  # type: ignore[misc]


def _is_public(path: str) -> bool:
    return path.startswith(settings.PUBLIC_PATH_PREFIXES)


class HybridMiddleware:
    """Base of our middlewares: sync or async to match the chain, never adapted."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)


class StaffRequiredMiddleware(HybridMiddleware):
    """Every page needs a staff login unless its path is listed as public.

    Deny-by-default means a page added later cannot be exposed by forgetting a
    decorator. Anonymous users go to the login page; signed-in non-staff get 403.
    """

    def __call__(self, request: HttpRequest):
        if self.async_mode:
            return self.__acall__(request)
        return self._refusal(request, request.user) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if _is_public(request.path_info):
            return await self.get_response(request)  # type: ignore[misc]
        user = await request.auser()
        return self._refusal(request, user) or await self.get_response(request)  # type: ignore[misc]

    @staticmethod
    def _refusal(request: HttpRequest, user) -> HttpResponseBase | None:
        if _is_public(request.path_info):
            return None
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            return HttpResponseForbidden("Staff access only.")
        return None
