"""This request's Content-Security-Policy nonce, for the scripts pages generate.

The security middleware (infra_dashboard.security) sets it per request; the
figures read it, so both sides share this one context variable.
"""

from __future__ import annotations

from contextvars import ContextVar

_nonce: ContextVar[str] = ContextVar("csp_nonce", default="")


def csp_nonce() -> str:
    """This request's nonce; asgiref carries the context var into sync views' threads."""
    return _nonce.get()


def nonce_scripts(html: str) -> str:
    """Give our own generated inline ``<script>`` tags this request's nonce."""
    nonce = csp_nonce()
    return html.replace("<script", f'<script nonce="{nonce}"') if nonce else html


def nonce_set(nonce: str) -> None:
    """Set by the security middleware at the start of each request."""
    _nonce.set(nonce)
