"""Secrets are removed from stored text; the fast path skips only text no pattern matches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from common import redaction
from common.redaction import REDACTED, redact_text


def every_pattern(text: str) -> str:
    """The reference: every pattern applied, as before the fast path existed."""
    for _, pattern in redaction._PATTERNS:
        text = pattern.sub(REDACTED, text)
    return redaction._UNSTORABLE.sub("\ufffd", redaction._CARD.sub(redaction._card, text))


SECRETS = [
    "sk-proj-" + "a1" * 12,
    "gw_abc123_" + "Z" * 20,
    "Bearer abcdefghijklmnop",
    "bEaReR abcdefghijklmnop",
    "AKIA" + "B" * 16,
    "ghp_" + "c" * 36,
    "xoxb-" + "1" * 12,
    "eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl",
    "-----BEGIN RSA PRIVATE KEY-----MIIBOgIBAAJBAK-----END RSA PRIVATE KEY-----",
    "4111 1111 1111 1111",
    "nul\x00and half a pair \ud800",
]


def test_each_kind_of_secret_is_redacted_as_by_every_pattern():
    for secret in SECRETS:
        text = f"before {secret} after"
        assert redact_text(text) == every_pattern(text)
        assert secret not in redact_text(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(SECRETS), st.text(max_size=40), st.sampled_from(["sk-", "gh", "eyJ"])
        ),
        max_size=6,
    )
)
def test_the_fast_path_never_changes_the_result(pieces):
    text = " ".join(pieces)
    assert redact_text(text) == every_pattern(text)
