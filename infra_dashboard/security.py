"""Security headers Django does not set itself, and deploy checks of our own.

Content-Security-Policy for every response. What the pages need, and why
each source is allowed:

- ``script-src 'self' 'nonce-…'``: htmx (django-htmx's static file), plotly.js
  (``/static/vendor/plotly.min.js``) and ``/static/js/*.js``; inline scripts
  only with this response's nonce. The figures' init scripts
  (``dashkit.figures.figure_html``) carry it (``nonce_scripts``);
  inline scripts htmx swaps in get the *page's* nonce from the
  ``htmx-config`` meta tag in base.html (``inlineScriptNonce``). No
  ``'unsafe-eval'``: plotly.js's only ``eval`` sits in its map-tile worker
  loader, which our cartesian charts never reach; no ``'unsafe-inline'``, so an
  injected ``<script>`` or ``onclick=`` never runs.
- ``style-src 'self' 'unsafe-inline'``: plotly.js and htmx inject ``<style>``
  elements and style attributes at runtime; styles cannot run code.
- ``img-src 'self' data:``: plotly draws some markers and images as data URIs.
- ``frame-ancestors 'none'`` (with ``X-Frame-Options: DENY``): no clickjacking.
- ``connect-src 'self'``: htmx polls our own partials only.

A template that needs more must change ``CSP_DIRECTIVES`` here, in one place.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from dashkit.csp import nonce_set
from infra_dashboard.middleware import HybridMiddleware

CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self' 'nonce-{nonce}'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in CSP_DIRECTIVES.items())


def csp_context(request: HttpRequest) -> dict[str, str]:
    """Context processor: ``csp_nonce`` for templates (django-htmx's tag reads it too)."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}


PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

# The fallback SECRET_KEY in settings.py: fine for a laptop, fatal in production.
DEV_SECRET_KEY_PREFIX = "dev-insecure-"


class SecurityHeadersMiddleware(HybridMiddleware):
    """Adds CSP and Permissions-Policy; async-capable so the API keeps its fast path."""

    def __call__(self, request: HttpRequest):
        if self.async_mode:
            return self.__acall__(request)
        nonce = _new_nonce(request)
        return _with_headers(self.get_response(request), nonce)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        nonce = _new_nonce(request)
        return _with_headers(await self.get_response(request), nonce)


def _new_nonce(request: HttpRequest) -> str:
    nonce = secrets.token_urlsafe(16)
    request.csp_nonce = nonce  # type: ignore[attr-defined]
    nonce_set(nonce)
    return nonce


def _with_headers(response: HttpResponseBase, nonce: str) -> HttpResponseBase:
    response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY.format(nonce=nonce))
    response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    return response


@register(Tags.security, deploy=True)
def check_secret_key_is_not_the_dev_default(app_configs, **kwargs) -> list[Error]:
    """Django's own check only knows its ``django-insecure-`` prefix, not ours."""
    if str(settings.SECRET_KEY).startswith(DEV_SECRET_KEY_PREFIX):
        return [
            Error(
                "SECRET_KEY is the development default.",
                hint="Set SECRET_KEY in the environment to a long random value.",
                id="infra_dashboard.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_key_pepper_is_not_the_dev_default(app_configs, **kwargs) -> list[Error]:
    """Gateway key hashes are keyed with GATEWAY_KEY_PEPPER (or SECRET_KEY)."""
    pepper = str(getattr(settings, "GATEWAY_KEY_PEPPER", "") or "")
    if pepper.startswith(DEV_SECRET_KEY_PREFIX):
        return [Error("GATEWAY_KEY_PEPPER is a development value.", id="infra_dashboard.E002")]
    return []
