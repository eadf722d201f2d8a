"""Personal data in an answer: a person's e-mail address, phone, card or social security number.

Business answers are full of numbers that are not personal data (dates, times, versions,
ticket and batch ids, amounts, IP addresses), so each detector wants a shape that only
personal data has, or a shape plus context:

* e-mail: any address except documentation domains (RFC 2606) and role mailboxes
  (``support@``, ``hr@``, ``privacy@``): those are how a company asks to be reached.
* phone: an international ``+CC …`` number, a North American ``(312) 555-0148`` /
  ``312-555-0148`` / ``312.555.0148``, or a national shape (``020 7946 0321``,
  ``06 12 34 56 78``, ``312 555 0148``) with a telephone word shortly before it.
* payment card: 13–19 digits, a real issuer prefix with its length, Luhn-valid; a
  number introduced as a *test* card (sandbox documentation) is not a person's card.
* US social security number (``123-45-6789``) introduced as one.

A company's own lines are not a person's data: toll-free numbers and numbers introduced as
a hotline, help desk or switchboard pass, like role mailboxes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
_EXAMPLE_DOMAIN = re.compile(
    r"(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid|localhost|local)$"
)
_ROLE_MAILBOXES = frozenset((
    "support", "help", "helpdesk", "servicedesk", "service", "info", "contact", "hello", "hr",
    "people", "payroll", "benefits", "careers", "jobs", "recruiting", "talent", "admin",
    "administrator", "billing", "accounts", "accounting", "invoices", "finance", "sales",
    "marketing", "press", "media", "legal", "privacy", "dpo", "compliance", "security", "abuse",
    "postmaster", "webmaster", "hostmaster", "noreply", "no-reply", "donotreply", "do-not-reply",
    "team", "office", "reception", "it", "ops", "devops", "engineering", "feedback", "orders",
    "returns", "refunds", "shipping", "customerservice", "customercare", "care", "enquiries",
    "inquiries", "mobility", "facilities", "travel", "expenses", "procurement", "purchasing",
    "partners", "events", "newsletter", "notifications", "alerts", "root",
))  # fmt: skip
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)")
_PHONE_NANP = re.compile(
    r"(?<![\w(.-])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?\d{3}[ .-]?\d{4}|\d{3}([.-])\d{3}\1\d{4})(?![\w-])"
)
_PHONE_NATIONAL = re.compile(
    r"(?<![\w.+-])(?:\(?0\d{1,4}\)?|\d{3})(?:[ -]\d{2,6}){1,4}(?!\w|[.-]\d)"
)
_PHONE_WORDS = re.compile(
    r"\b(?:call|phone|tel|telephone|mobile|cell|ring|text|sms|whatsapp|fax|dial|reach|contact"
    r"|extension|ext|hotline|number|line)\b"
)
_CARD = re.compile(r"(?<![\d-])[2-6]\d(?:[ -]?\d){11,17}(?![\d-])")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_SSN_WORDS = ("ssn", "social security")
_COMPANY_LINE = re.compile(
    r"\b(?:hotline|help ?desk|service ?desk|support (?:line|team|number)|customer (?:service|care"
    r"|support)|switchboard|reception|front desk|main (?:line|number)|head office|toll[- ]free)\b"
)
_TOLL_FREE = re.compile(r"^\+?(?:1[ .-]?)?\(?(?:0?800|0808|888|877|866|855|844|833|1800)\b")
_ALL_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")
CONTEXT_CHARS = 40


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _issuer_length_ok(d: str) -> bool:
    """The issuer prefix (IIN) and the lengths that issuer uses."""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    if d[:2] in ("34", "37"):
        return n == 15
    if "51" <= d[:2] <= "55" or "2221" <= d[:4] <= "2720":
        return n == 16
    if d[:2] in ("30", "36", "38"):
        return n in (14, 16)
    if d.startswith(("6011", "65", "62")) or "644" <= d[:3] <= "649" or "3528" <= d[:4] <= "3589":
        return 16 <= n <= 19
    return False


def _has_card(text: str, lowered: str) -> bool:
    for match in _CARD.finditer(text):
        digits = match.group(0).replace(" ", "").replace("-", "")
        before = lowered[max(0, match.start() - CONTEXT_CHARS) : match.start()]
        introduced_as_test = "test" in before or "sandbox" in before
        if 13 <= len(digits) <= 19 and _issuer_length_ok(digits) and luhn_valid(digits):
            return not introduced_as_test or _has_card(text[match.end() :], lowered[match.end() :])
    return False


def _personal_line(number: str, before: str) -> bool:
    return not _TOLL_FREE.match(number) and not _COMPANY_LINE.search(before)


def _phone_candidates(text: str, masked: str) -> Iterator[tuple[re.Match[str], bool]]:
    """(match, needs a telephone word before it): strong shapes first."""
    if "+0" in masked:
        for match in _PHONE_INTL.finditer(text):
            if 8 <= sum(c.isdigit() for c in match.group(0)) <= 15:
                yield match, False
    if "000-0000" in masked or "000.0000" in masked or "(000)" in masked:
        yield from ((match, False) for match in _PHONE_NANP.finditer(text))
    if "00 00" in masked or "00-00" in masked:  # digit groups apart: maybe a national number
        for match in _PHONE_NATIONAL.finditer(text):
            if 9 <= sum(c.isdigit() for c in match.group(0)) <= 12:
                yield match, True


def _has_phone(text: str, lowered: str, masked: str) -> bool:
    for match, needs_word in _phone_candidates(text, masked):
        before = lowered[max(0, match.start() - CONTEXT_CHARS) : match.start()]
        if needs_word and not _PHONE_WORDS.search(before):
            continue
        if _personal_line(match.group(0), before):
            return True
    return False


def _is_personal_address(local: str, domain: str) -> bool:
    if _EXAMPLE_DOMAIN.search(domain.lower()):
        return False
    first = re.split(r"[.+_-]", local.lower(), maxsplit=1)[0]
    return first not in _ROLE_MAILBOXES


def _has_email(text: str) -> bool:
    if "@" not in text:
        return False
    return any(_is_personal_address(*m.groups()) for m in _EMAIL.finditer(text))


def personal_data_kinds(text: str, lowered: str) -> list[str]:
    """Digits are masked to '0' once so the cheap shape tests can skip most regexes."""
    masked = text.translate(_ALL_DIGITS_TO_ZERO)
    kinds = []
    if _has_email(text):
        kinds.append("email address")
    if "0" in masked and _has_phone(text, lowered, masked):
        kinds.append("phone number")
    if "0" * 13 in masked.replace(" ", "").replace("-", "") and _has_card(text, lowered):
        kinds.append("payment card number")
    if "000-00-0000" in masked and any(w in lowered for w in _SSN_WORDS) and _SSN.search(text):
        kinds.append("social security number")
    return kinds
