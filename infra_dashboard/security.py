"""Security headers Django does not set itself, and deploy checks of our own.

Content-Security-Policy for every response. What the pages need, and why
each source is allowed:

- ``script-src 'self'``: htmx (django-htmx's static file), plotly.js
  (``/static/vendor/plotly.min.js``) and ``/static/js/figures.js``. No inline
  scripts and no ``'unsafe-eval'``: figure data travels in
  ``<script type="application/json">`` blocks (``json_script``), which are data
  and never executed; plotly.js's only ``eval`` sits in its map-tile worker
  loader, which our cartesian charts never reach.
- ``style-src 'self' 'unsafe-inline'``: plotly.js and htmx inject ``<style>``
  elements and style attributes at runtime; styles cannot run code.
- ``img-src 'self' data:``: plotly draws some markers and images as data URIs.
- ``frame-ancestors 'none'`` (with ``X-Frame-Options: DENY``): no clickjacking.
- ``connect-src 'self'``: htmx polls our own partials only.

A template that needs more must change ``CSP_DIRECTIVES`` here, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.http import HttpRequest
from django.http.request import validate_host
from django.http.response import HttpResponseBase

CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
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
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

# The fallback SECRET_KEY in settings.py: fine for a laptop, fatal in production.
DEV_SECRET_KEY_PREFIX = "dev-insecure-"


class SecurityHeadersMiddleware:
    """Adds CSP and Permissions-Policy; async-capable so the API keeps its fast path."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.async_mode:
            return self.__acall__(request)
        return _with_headers(self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        return _with_headers(await self.get_response(request))


def _with_headers(response: HttpResponseBase) -> HttpResponseBase:
    response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
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


# --- Alert webhooks ------------------------------------------------------------------

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def webhook_url_allowed(url: str) -> bool:
    """An alert webhook may be any http(s) URL except the gateway itself.

    "Itself" is every public name in ALLOWED_HOSTS, and the loopback address on
    the port the gateway serves (GATEWAY_PORT): a budget alert posted back into
    the gateway could loop or hit its API with the server's own standing. Other
    loopback ports stay allowed for local relays (and the test receivers).
    Credentials in the URL are refused: they would be stored and shown in clear.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return False
    if host in LOOPBACK_NAMES or host.startswith("127."):
        return port != settings.GATEWAY_PORT
    public = [h for h in settings.ALLOWED_HOSTS if h != "*" and h.lower() not in LOOPBACK_NAMES]
    return not validate_host(host, public)
