"""Price table: name resolution, cost arithmetic, and (with a DB) history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costs.pricing import (
    PRICE_LEDGER_FIELDS,
    Price,
    call_cost,
    price_ledger_fields,
    resolve_model_name,
)

FIXTURE = Path(__file__).resolve().parent.parent / "costs" / "fixtures" / "prices.json"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _fixture_rows() -> list[dict]:
    return json.loads(FIXTURE.read_text())


def _known(provider: str) -> set[str]:
    return {row["model"] for row in _fixture_rows() if row["provider"] == provider}


def _price(**overrides: object) -> Price:
    values: dict = {
        "provider": "openai",
        "model": "test-model",
        "input_per_m": Decimal(1),
        "output_per_m": Decimal(1),
        "cached_input_per_m": None,
        "cache_write_per_m": None,
        "effective_from": T0,
    }
    values.update(overrides)
    return Price(**values)


GPT_4O = _price(
    model="gpt-4o",
    input_per_m=Decimal("2.50"),
    cached_input_per_m=Decimal("1.25"),
    output_per_m=Decimal("10.00"),
)


# --- fixture file ------------------------------------------------------------


def test_fixture_rows_are_unique_and_decimal_strings():
    rows = _fixture_rows()
    keys = {(r["provider"], r["model"], r["effective_from"]) for r in rows}
    assert len(keys) == len(rows)
    for row in rows:
        for field in ("input", "output", "cached_input", "cache_write"):
            value = row.get(field)
            assert value is None or (isinstance(value, str) and Decimal(value) >= 0)


def test_fixture_covers_every_required_model():
    assert {
        "gpt-3.5-turbo",
        "gpt-3.5-turbo-0125",
        "gpt-4",
        "gpt-4-turbo",
        "gpt-4o-2024-05-13",
        "chatgpt-4o-latest",
        "o4-mini",
        "gpt-5-nano",
        "text-embedding-3-large",
    } <= _known("openai")
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4.1-nano", "gpt-5-mini"} <= _known("azure_openai")
    assert {"claude-sonnet-4-5", "claude-opus-4-5", "claude-3-haiku"} <= _known("anthropic")


def test_unconfirmed_rows_say_so_in_source():
    by_model = {r["model"]: r for r in _fixture_rows() if r["provider"] == "openai"}
    assert "unconfirmed" in by_model["o1-mini"]["source"]
    assert "unconfirmed" in by_model["chatgpt-4o-latest"]["source"]


# --- name resolution ---------------------------------------------------------

OPENAI_CASES = [
    ("gpt-4o", "gpt-4o"),
    ("GPT-4o", "gpt-4o"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-11-20", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("openai/gpt-4o-mini", "gpt-4o-mini"),
    ("chatgpt-4o-latest", "chatgpt-4o-latest"),
    ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
    ("gpt-4-0613", "gpt-4"),
    ("gpt-4-32k-0613", "gpt-4-32k"),
    ("gpt-3.5-turbo-1106", "gpt-3.5-turbo-1106"),
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo-0125"),
    ("gpt-35-turbo", "gpt-3.5-turbo"),
    ("gpt-35-turbo-16k-0613", "gpt-3.5-turbo-16k-0613"),
    ("azure/gpt-35-turbo-0125", "gpt-3.5-turbo-0125"),
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
    ("o1-2024-12-17", "o1"),
    ("o1-preview-2024-09-12", "o1-preview"),
    ("o3-mini-2025-01-31", "o3-mini"),
    ("o4-mini-2025-04-16", "o4-mini"),
    ("gpt-5-nano-2025-08-07", "gpt-5-nano"),
    ("gpt-5-chat-latest", "gpt-5-chat-latest"),
    ("text-embedding-3-small", "text-embedding-3-small"),
    # Never a different family, never a guess.
    ("my-llama", None),
    ("gpt-4o-audio-preview", None),
    ("gpt-3.5-turbo-16k", None),
    ("gpt-4o-9999", None),
    ("", None),
]

ANTHROPIC_CASES = [
    ("claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
    ("claude-3-haiku-20240307", "claude-3-haiku"),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
    ("claude-opus-4-1-20250805", "claude-opus-4-1"),
    ("claude-opus-4-20250514", "claude-opus-4"),
    ("claude-opus-4-5-20251101", "claude-opus-4-5"),
    ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("claude-opus-5", None),
]


@pytest.mark.parametrize(("model", "expected"), OPENAI_CASES)
def test_resolve_openai_names(model, expected):
    assert resolve_model_name(model, _known("openai")) == expected


@pytest.mark.parametrize(("model", "expected"), ANTHROPIC_CASES)
def test_resolve_anthropic_names(model, expected):
    assert resolve_model_name(model, _known("anthropic")) == expected


def test_resolve_never_falls_back_to_a_shorter_family():
    assert resolve_model_name("gpt-4o-mini-2024-07-18", {"gpt-4o"}) is None
    assert resolve_model_name("claude-opus-4-1", {"claude-opus-4"}) is None


def test_resolve_returns_the_known_spelling():
    assert resolve_model_name("gpt-4o", {"GPT-4o"}) == "GPT-4o"


def test_azure_data_zone_prefix_is_not_priced_as_global():
    assert resolve_model_name("azure/us/gpt-4o", _known("azure_openai")) is None
    assert resolve_model_name("azure/gpt-4o", _known("azure_openai")) == "gpt-4o"


# --- cost arithmetic ---------------------------------------------------------


def test_cost_counts_cached_tokens_inside_prompt_tokens():
    # 1034 uncached x 2.50 + 200 cached x 1.25 + 567 x 10.00 = 8505 micro-USD
    cost = call_cost(GPT_4O, prompt_tokens=1234, completion_tokens=567, cached_tokens=200)
    assert cost == Decimal("0.0085050000")
    assert cost.as_tuple().exponent == -10


def test_cached_tokens_cost_input_price_when_no_cached_price():
    price = _price(input_per_m=Decimal("5.00"), output_per_m=Decimal("15.00"))
    with_cache = call_cost(price, prompt_tokens=1000, completion_tokens=10, cached_tokens=900)
    assert with_cache == call_cost(price, prompt_tokens=1000, completion_tokens=10)
    assert with_cache == Decimal("0.0051500000")


def test_anthropic_cache_write_is_added_on_top_of_prompt():
    sonnet = _price(
        provider="anthropic",
        input_per_m=Decimal("3.00"),
        cached_input_per_m=Decimal("0.30"),
        cache_write_per_m=Decimal("3.75"),
        output_per_m=Decimal("15.00"),
    )
    cost = call_cost(
        sonnet,
        prompt_tokens=1000,
        cached_tokens=400,
        cache_write_tokens=2000,
        completion_tokens=300,
    )
    # 600 x 3 + 400 x 0.30 + 2000 x 3.75 + 300 x 15 = 13920 micro-USD
    assert cost == Decimal("0.0139200000")


def test_cache_write_costs_input_price_when_no_write_price():
    price = _price(input_per_m=Decimal(2), output_per_m=Decimal(0))
    assert call_cost(
        price, prompt_tokens=0, completion_tokens=0, cache_write_tokens=500_000
    ) == Decimal("1.0000000000")


def test_one_hour_cache_writes_cost_their_own_rate():
    sonnet = _price(
        provider="anthropic",
        input_per_m=Decimal("3.00"),
        cache_write_per_m=Decimal("3.75"),
        cache_write_1h_per_m=Decimal("6.00"),
        output_per_m=Decimal("15.00"),
    )
    cost = call_cost(
        sonnet,
        prompt_tokens=1000,
        completion_tokens=0,
        cache_write_tokens=2000,
        cache_write_1h_tokens=1000,
    )
    # 1000 x 3 + 2000 x 3.75 + 1000 x 6 = 16500 micro-USD
    assert cost == Decimal("0.0165000000")


def test_one_hour_writes_cost_the_five_minute_rate_when_no_1h_price():
    price = _price(input_per_m=Decimal(2), cache_write_per_m=Decimal("2.5"))
    assert call_cost(
        price, prompt_tokens=0, completion_tokens=0, cache_write_1h_tokens=400_000
    ) == Decimal("1.0000000000")


def test_recorded_cost_takes_the_cache_writes_out_of_the_prompt_tokens():
    price = _price(
        input_per_m=Decimal(1),
        cached_input_per_m=Decimal("0.1"),
        cache_write_per_m=Decimal("1.25"),
        cache_write_1h_per_m=Decimal(2),
    )
    recorded = call_cost(
        price,
        prompt_tokens=1000,  # 100 input + 300 reads + 600 writes, 200 of them for 1 h
        completion_tokens=0,
        cached_tokens=300,
        cache_write_tokens=600,
        cache_write_1h_tokens=200,
        writes_in_prompt=True,
    )
    assert recorded == call_cost(
        price,
        prompt_tokens=400,
        completion_tokens=0,
        cached_tokens=300,
        cache_write_tokens=400,
        cache_write_1h_tokens=200,
    )


def test_anthropic_one_hour_write_prices_follow_anthropics_rule():
    """AN: a 1-hour cache write costs 2x the input price (Claude 3 Haiku included)."""
    rows = [row for row in _fixture_rows() if row["provider"] == "anthropic"]
    assert rows
    for row in rows:
        assert Decimal(row["cache_write_1h"]) == 2 * Decimal(row["input"]), row["model"]
        assert "1h write: AN" in row["source"]


@pytest.mark.parametrize(
    ("input_per_m", "expected"),
    [
        ("0.000050", "0.0000000001"),  # exactly half: HALF_UP rounds away from 0
        ("0.000250", "0.0000000003"),  # HALF_EVEN would give ...0002
        ("0.000049", "0.0000000000"),
    ],
)
def test_cost_rounds_half_up_at_ten_places(input_per_m, expected):
    price = _price(input_per_m=Decimal(input_per_m))
    assert call_cost(price, prompt_tokens=1, completion_tokens=0) == Decimal(expected)


def test_large_call_is_exact():
    price = _price(input_per_m=Decimal("0.075"), output_per_m=Decimal("0.60"))
    cost = call_cost(price, prompt_tokens=123_456_789, completion_tokens=987_654)
    assert cost == Decimal("9.8518515750")


def test_unpriced_model_costs_zero():
    assert call_cost(None, prompt_tokens=1000, completion_tokens=1000) == Decimal(0)


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": -1, "completion_tokens": 0},
        {"prompt_tokens": 10, "completion_tokens": 0, "cached_tokens": 11},
    ],
)
def test_impossible_usage_is_rejected(usage):
    with pytest.raises(ValueError):
        call_cost(GPT_4O, **usage)


def test_price_ledger_fields_copy_the_charged_prices():
    assert price_ledger_fields(GPT_4O) == {
        "input_price_per_m": Decimal("2.50"),
        "output_price_per_m": Decimal("10.00"),
        "cached_price_per_m": Decimal("1.25"),
    }


def test_price_ledger_fields_are_empty_for_an_unpriced_call():
    assert price_ledger_fields(None) == dict.fromkeys(PRICE_LEDGER_FIELDS)


def test_price_ledger_fields_name_llmcall_columns():
    from calls.models import LLMCall

    columns = {field.name for field in LLMCall._meta.get_fields()}
    assert set(PRICE_LEDGER_FIELDS) <= columns
    assert set(price_ledger_fields(GPT_4O)) == set(PRICE_LEDGER_FIELDS)


# --- database: the price table ----------------------------------------------

T1 = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def price_table(db):
    """A freshly loaded table per test: the test transaction's rollback sends
    no signal, so a table from an earlier test would otherwise survive."""
    from costs import pricing

    pricing.invalidate_price_table()
    yield pricing
    pricing.invalidate_price_table()


def _add_price(model: str = "gpt-4o", when: datetime = T0, **prices: str):
    from costs.models import ModelPrice

    values = {"input_per_m": "2.50", "output_per_m": "10.00"} | prices
    return ModelPrice.objects.create(
        provider="openai",
        model=model,
        effective_from=when,
        **{field: Decimal(value) for field, value in values.items()},
    )


def _load_prices(*args: str) -> str:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("load_prices", *args, stdout=out)
    return out.getvalue()


def test_load_prices_twice_gives_the_same_rows(price_table):
    from costs.models import ModelPrice

    rows = len(_fixture_rows())
    assert _load_prices().startswith(f"{rows} created, 0 updated, 0 unchanged")
    assert _load_prices().startswith(f"0 created, 0 updated, {rows} unchanged")
    assert ModelPrice.objects.count() == rows
    gpt_4o = price_table.price_for("gpt-4o-2024-08-06")
    assert (gpt_4o.input_per_m, gpt_4o.cached_input_per_m) == (Decimal("2.5"), Decimal("1.25"))
    sonnet = price_table.price_for("claude-sonnet-4-5-20250929", provider="anthropic")
    assert sonnet.cache_write_per_m == Decimal("3.75")


def test_load_prices_updates_a_changed_row(price_table, tmp_path):
    row = {"provider": "openai", "model": "gpt-4o", "input": "2.50", "cached_input": None}
    row |= {"output": "10.00", "effective_from": "2024-01-01T00:00:00Z", "source": "t"}
    changed = tmp_path / "prices.json"
    changed.write_text(json.dumps([row | {"output": "12.00"}]))
    _load_prices()
    assert _load_prices("--file", str(changed)).startswith("0 created, 1 updated, 0 unchanged")
    assert price_table.price_for("gpt-4o").output_per_m == Decimal("12")


@pytest.mark.parametrize(
    "row",
    [
        {"input": 2.5},  # a JSON number: already a float
        {"input": "-1"},
        {"effective_from": "2024-01-01T00:00:00"},  # naive
        {"provider": "vertex"},
    ],
)
def test_load_prices_rejects_bad_rows_and_writes_nothing(price_table, tmp_path, row):
    from django.core.management.base import CommandError

    from costs.models import ModelPrice

    good = {"provider": "openai", "model": "m", "input": "1", "output": "1"}
    good["effective_from"] = "2024-01-01T00:00:00Z"
    bad_file = tmp_path / "prices.json"
    bad_file.write_text(json.dumps([good | {"model": "first"}, good | row]))
    with pytest.raises(CommandError):
        _load_prices("--file", str(bad_file))
    assert not ModelPrice.objects.exists()


def test_a_price_change_does_not_rewrite_history(price_table):
    _add_price(when=T0, input_per_m="5.00", output_per_m="15.00")
    _add_price(when=T1, input_per_m="2.50", output_per_m="10.00")
    before = price_table.price_for("gpt-4o", at=T1 - timedelta(microseconds=1))
    after = price_table.price_for("gpt-4o", at=T1)
    assert (before.input_per_m, after.input_per_m) == (Decimal("5"), Decimal("2.5"))
    assert price_table.price_for("gpt-4o", at=T0 - timedelta(days=1)) is None
    assert price_table.price_for("gpt-4o").effective_from == T1


def test_admin_edit_is_seen_by_the_in_memory_table(price_table, admin_client):
    from costs.models import ModelPrice

    row = _add_price()
    assert price_table.price_for("gpt-4o").output_per_m == Decimal("10")
    form = {
        "provider": "openai",
        "model": "gpt-4o",
        "effective_from_0": "2024-01-01",
        "effective_from_1": "00:00:00",
        "input_per_m": "2.50",
        "cached_input_per_m": "1.25",
        "cache_write_per_m": "",
        "output_per_m": "11.00",
        "source": "admin",
    }
    response = admin_client.post(f"/admin/costs/modelprice/{row.pk}/change/", form)
    assert response.status_code == 302, response.content
    assert ModelPrice.objects.get().output_per_m == Decimal("11")
    price = price_table.price_for("gpt-4o")
    assert (price.output_per_m, price.cached_input_per_m) == (Decimal("11"), Decimal("1.25"))


def test_the_table_is_served_from_memory(price_table, django_assert_num_queries):
    _add_price()
    price_table.price_for("gpt-4o")
    with django_assert_num_queries(0):
        for _ in range(100):
            assert price_table.price_for("gpt-4o-2024-11-20") is not None


def test_another_process_change_is_seen_after_the_version_check(price_table, monkeypatch):
    from django.core.cache import cache

    from costs.models import ModelPrice

    _add_price()
    assert price_table.price_for("gpt-4o").output_per_m == Decimal("10")
    # As another process would: change the row without our signal handler
    # seeing it, then announce a new version in the shared cache.
    ModelPrice.objects.update(output_per_m=Decimal("12"))
    assert price_table.price_for("gpt-4o").output_per_m == Decimal("10")
    cache.set(price_table.VERSION_CACHE_KEY, "from-another-process")
    monkeypatch.setattr(price_table, "VERSION_CHECK_INTERVAL_S", 0.0)
    assert price_table.price_for("gpt-4o").output_per_m == Decimal("12")


def test_prices_are_served_while_the_cache_is_down(price_table, monkeypatch):
    from django.core.cache import cache

    def unavailable(*args, **kwargs):
        raise ConnectionError("cache down")

    _add_price()
    assert price_table.price_for("gpt-4o") is not None
    monkeypatch.setattr(cache, "get", unavailable)
    monkeypatch.setattr(price_table, "VERSION_CHECK_INTERVAL_S", 0.0)
    assert price_table.price_for("gpt-4o").output_per_m == Decimal("10")
    price_table.invalidate_price_table()  # and a fresh load needs no cache either
    assert price_table.price_for("gpt-4o").output_per_m == Decimal("10")


def test_saving_a_price_announces_a_new_version_on_commit(
    price_table, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    before = cache.get(price_table.VERSION_CACHE_KEY)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        row = _add_price()
    assert cache.get(price_table.VERSION_CACHE_KEY) == before  # not before commit
    for callback in callbacks:
        callback()
    after_save = cache.get(price_table.VERSION_CACHE_KEY)
    assert after_save != before
    with django_capture_on_commit_callbacks(execute=True):
        row.delete()
    assert cache.get(price_table.VERSION_CACHE_KEY) not in (before, after_save)


def test_unknown_model_has_no_price(price_table):
    _add_price()
    assert price_table.price_for("my-llama") is None
    assert price_table.price_for("gpt-4o", provider="anthropic") is None
    assert not price_table.priced("my-llama", "openai")
    assert price_table.priced("openai/gpt-4o-2024-08-06", "openai")
    assert price_table.known_models("openai") == {"gpt-4o"}
    assert price_table.known_models("anthropic") == frozenset()


def test_naive_time_is_refused(price_table):
    with pytest.raises(ValueError):
        price_table.price_for("gpt-4o", at=datetime(2025, 1, 1))


def test_negative_price_fails_validation(db):
    from django.core.exceptions import ValidationError

    from costs.models import ModelPrice

    price = ModelPrice(
        provider="openai",
        model="x",
        effective_from=T0,
        input_per_m=Decimal("1"),
        output_per_m=Decimal("1"),
        cached_input_per_m=Decimal("-0.1"),
    )
    with pytest.raises(ValidationError):
        price.full_clean()


@pytest.mark.django_db(transaction=True)
def test_aprice_for_reloads_off_the_event_loop():
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    from costs import pricing

    pricing.invalidate_price_table()
    _add_price()

    async def lookup():
        try:
            return await pricing.aprice_for("gpt-4o-2024-08-06")
        finally:
            # The reload opened a connection in sync_to_async's thread; close
            # it there, or the test database cannot be dropped at teardown.
            await sync_to_async(connections.close_all)()

    # The table is stale (a row was just saved), so the first await must load
    # it in a worker thread; the ORM raises SynchronousOnlyOperation otherwise.
    price = asyncio.run(lookup())
    assert price is not None and price.output_per_m == Decimal("10")
    pricing.invalidate_price_table()
