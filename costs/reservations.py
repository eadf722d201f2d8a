"""Budget enforcement on the hot path: reserve before a call, settle after it.

A call first reserves its worst-case cost (estimated prompt plus ``max_tokens``
at the model's price) on the counter of every enabled budget in its scope, in
one short transaction holding those counter rows locked. A ``block`` budget
refuses the call when spent + reserved + this reservation would pass its
amount, so concurrent calls cannot all squeeze through the last dollar: real
spend exceeds the amount by at most one reservation (the reservation is an
upper bound of a call's cost, apart from prompt-estimate error). When the call
is recorded, ``budget_settle`` releases the reservation and adds the real cost
in the same transaction as the call's row, so counters and the log move
together and the periodic reconciliation (``counters_reconcile``) only corrects
drift (reprices, crashes between reserve and settle, budgets created mid-period).

Row locks: on PostgreSQL a reservation is one statement (lock the counters in
id order, judge, add; with one budget in scope, a conditional single-row
update) and a batch's settle another, so a call holds the rows
for one round trip, not a transaction of three, and pays one round trip of
Python instead of an ORM query, an update and a commit. Locks are always
taken in id order so two calls never wait on each other in a cycle. SQLite
has no row locks, but the settings open every transaction IMMEDIATE, which
serialises writers; there the same steps run through the ORM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from calls.services import CallRecord
from common.cache import ProcessCache
from common.errors import LLMBudgetExceededError
from common.tokens import estimate_prompt_tokens
from costs.models import Budget, BudgetAction, BudgetCounter, BudgetScope
from costs.periods import period_bounds
from costs.pricing import aprice_for, call_cost
from costs.selectors import budget_spend

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
# A counter nobody reserved on or settled for this long holds no live call:
# whatever is still "reserved" leaked (a process died mid-call) and is released.
STALE_RESERVATION = timedelta(minutes=30)


@dataclass(frozen=True)
class ActiveBudget:
    """The few fields enforcement needs, cached per process."""

    id: int
    name: str
    scope: str
    scope_value: str
    period: str
    amount: Decimal
    action: str
    downgrade_model: str

    @property
    def enforces(self) -> bool:
        """Only ``block`` and ``downgrade`` budgets gate calls, so only they reserve:
        an ``alert`` budget's spend and alerts come from the call log, and a row
        lock per call for it cost ~5 ms of CPU (the whole of a call, several times)."""
        return self.action != BudgetAction.ALERT

    def covers(
        self,
        *,
        agent_name: str,
        key_prefix: str,
        model: str,
        key_agent: str = "",
        end_user: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> bool:
        # An agent budget covers the key's own agent too: X-Agent-Name relabels a
        # call, it must not move it out from under its agent's budget.
        if self.scope == BudgetScope.AGENT:
            return self.scope_value in (agent_name, key_agent)
        if self.scope == BudgetScope.KEY:
            return bool(key_prefix) and self.scope_value == key_prefix
        if self.scope == BudgetScope.MODEL:
            return self.scope_value == model
        if self.scope == BudgetScope.USER:
            return bool(end_user) and self.scope_value == end_user
        if self.scope == BudgetScope.TAG:
            name, _, value = self.scope_value.partition("=")
            return tags is not None and name in tags and tags[name] == value
        return True


@dataclass
class Reservation:
    """What a call holds between reserve and settle: the same ``amount`` on
    each counter in ``counter_ids``. ``downgrade_to`` is set when a downgrade
    budget is spent and the call must be served on that model instead."""

    amount: Decimal
    counter_ids: tuple[int, ...] = ()
    downgrade_to: str = ""
    settled: bool = field(default=False, compare=False)


# --- the in-process budget list ----------------------------------------------------


def _budgets_load() -> tuple[ActiveBudget, ...]:
    return tuple(
        ActiveBudget(**row)
        for row in Budget.objects.filter(enabled=True)
        .order_by("id")
        .values(*(f.name for f in ActiveBudget.__dataclass_fields__.values()))
    )


class _BudgetCache:
    """Enabled budgets, reloaded every BUDGET_CHECK_CACHE_SECONDS or when a
    Budget is saved or deleted in this process (other processes see an edit
    within the TTL)."""

    def __init__(self) -> None:
        self.budgets: ProcessCache[tuple[ActiveBudget, ...]] = ProcessCache(
            "budgets", ttl=lambda: getattr(settings, "BUDGET_CHECK_CACHE_SECONDS", 5.0)
        )
        # (budget id, period start) -> the id of its counter row, known to exist:
        # saves a query per reservation. Forgotten with the list, or when a row is missing.
        self.counter_ids: dict[tuple[int, datetime], int] = {}

    def peek(self) -> tuple[ActiveBudget, ...] | None:
        """The cached list if it is fresh, else None (never queries)."""
        fresh, budgets = self.budgets.peek()
        return budgets if fresh else None

    def get(self) -> tuple[ActiveBudget, ...]:
        return self.budgets.get(None, _budgets_load)

    def clear(self) -> None:
        self.budgets.invalidate()
        self.counter_ids = {}


budget_cache = _BudgetCache()


# --- estimate -------------------------------------------------------------------------


async def reservation_estimate(
    *,
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    model: str,
    kinds: list[str],
    prompt_tokens: int | None = None,
) -> Decimal:
    """Worst-case USD cost of a request: the estimated prompt plus every token
    it may generate, at the dearest price among the providers that may serve
    it. Unpriced models (and the mock) reserve 0. ``prompt_tokens``, when the
    caller counted them (token-array input), replaces the estimate."""
    prompt = estimate_prompt_tokens(messages) if prompt_tokens is None else prompt_tokens
    completion = max_tokens or settings.LLM_MAX_TOKENS
    worst = ZERO
    for kind in dict.fromkeys(kinds or ["openai"]):
        price = await aprice_for(model, provider=kind)
        cost = call_cost(price, prompt_tokens=prompt, completion_tokens=completion)
        worst = max(worst, cost)
    return worst


# --- the manager's hooks ----------------------------------------------------------------


async def areserve_for_call(
    *,
    record: CallRecord,
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    kinds: list[str],
    prompt_tokens: int | None = None,
    on_reserved: Callable[[Reservation], None] | None = None,
) -> Reservation:
    """Estimate the request's worst case and reserve it for the call's scope.

    ``on_reserved`` is called with the reservation as soon as it is held, on
    the thread that took it: the gateway journals it there, so a process killed
    right after the reservation committed still knows what to release.

    Fast path: when the cached budget list is fresh and no budget covers the
    call, nothing is priced and no thread or transaction is used."""
    cached = budget_cache.peek()
    scope = {
        "agent_name": record.agent_name,
        "key_prefix": record.key_prefix,
        "model": record.requested_model,
        "key_agent": record.key_agent_name,
        "end_user": record.end_user,
        "tags": record.tags,
    }
    if cached is not None and not any(b.enforces and b.covers(**scope) for b in cached):
        return _reported(Reservation(amount=ZERO), on_reserved)
    amount = await reservation_estimate(
        messages=messages,
        max_tokens=max_tokens,
        model=record.requested_model,
        kinds=kinds,
        prompt_tokens=prompt_tokens,
    )
    return await _areserve_and_report(on_reserved, amount=amount, **scope)


def _reported(
    reservation: Reservation, on_reserved: Callable[[Reservation], None] | None
) -> Reservation:
    if on_reserved is not None:
        on_reserved(reservation)
    return reservation


def _reserve_and_report(
    on_reserved: Callable[[Reservation], None] | None, **scope: Any
) -> Reservation:
    return _reported(budget_reserve(**scope), on_reserved)


_areserve_and_report = sync_to_async(_reserve_and_report)


# --- reserve and settle ------------------------------------------------------------


def budget_reserve(
    *,
    agent_name: str,
    key_prefix: str,
    model: str,
    amount: Decimal,
    at: datetime | None = None,
    key_agent: str = "",
    end_user: str = "",
    tags: Mapping[str, str] | None = None,
) -> Reservation:
    """Reserve ``amount`` on every enabled budget covering the call.

    Raises LLMBudgetExceededError (nothing reserved) if a ``block`` budget
    cannot take it; returns a reservation with ``downgrade_to`` set if a
    ``downgrade`` budget cannot."""
    now = at or timezone.now()
    covering = [
        b
        for b in budget_cache.get()
        if b.enforces
        and b.covers(
            agent_name=agent_name,
            key_prefix=key_prefix,
            model=model,
            key_agent=key_agent,
            end_user=end_user,
            tags=tags,
        )
    ]
    if not covering:
        return Reservation(amount=amount)
    starts = {b.id: period_bounds(b.period, at=now)[0] for b in covering}
    counter_ids = _counter_ids(covering, starts, now)
    if connection.vendor == "postgresql":
        return _reserve_in_one_statement(covering, counter_ids, amount, now, starts)
    with transaction.atomic():
        counters = _counters_locked(starts)
        if len(counters) < len(starts):  # a row went away: look again next time
            budget_cache.counter_ids.clear()
        downgrade_to = _decide(covering, counters, amount, starts)
        ids = tuple(sorted(c.id for c in counters.values()))
        BudgetCounter.objects.filter(id__in=ids).update(
            reserved=F("reserved") + amount, updated_at=now
        )
    return Reservation(amount=amount, counter_ids=ids, downgrade_to=downgrade_to)


_COUNTERS = BudgetCounter._meta.db_table

# Lock the counters in id order, judge every block budget against the rows as
# locked (their latest committed values), and add the reservation to all of
# them only if none refuses. An UPDATE in READ COMMITTED applies to the latest
# version of a row, the one ``locked`` holds, so no concurrent reservation or
# settle is lost between the judging and the adding.
_RESERVE_SQL = f"""
WITH wanted AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(caps)s::numeric[], %(blocks)s::boolean[])
        AS w(id, cap, blocks)
), locked AS (
    SELECT c.id, c.budget_id, c.spent, c.reserved FROM {_COUNTERS} c
    WHERE c.id = ANY(%(ids)s::bigint[]) ORDER BY c.id FOR UPDATE
), judged AS (
    SELECT l.id, l.budget_id, l.spent + l.reserved + %(amount)s <= w.cap AS fits, w.blocks
    FROM locked l JOIN wanted w ON w.id = l.id
), granted AS (
    UPDATE {_COUNTERS} c SET reserved = c.reserved + %(amount)s, updated_at = %(now)s
    FROM judged j
    WHERE c.id = j.id AND NOT EXISTS (SELECT 1 FROM judged WHERE blocks AND NOT fits)
    RETURNING c.id
)
SELECT j.id, j.budget_id, j.fits FROM judged j ORDER BY j.id
"""


# One budget in scope, the usual case: a conditional single-row UPDATE. Waiting
# for a row lock, READ COMMITTED re-checks the WHERE against the row's newest
# version, so judging and adding are as atomic as above, at two thirds of the
# server time. A block budget that refuses updates nothing; any other adds the
# reservation and reports whether it still fitted.
_RESERVE_ONE_SQL = f"""
UPDATE {_COUNTERS} SET reserved = reserved + %(amount)s, updated_at = %(now)s
WHERE id = %(id)s AND (NOT %(blocks)s OR spent + reserved + %(amount)s <= %(cap)s)
RETURNING spent + reserved <= %(cap)s
"""


def _reserve_in_one_statement(
    covering: list[ActiveBudget],
    counter_ids: dict[int, int],
    amount: Decimal,
    now: datetime,
    starts: dict[int, datetime],
) -> Reservation:
    by_id = {b.id: b for b in covering}
    if len(counter_ids) == 1:
        ((budget_id, counter_id),) = counter_ids.items()
        return _reserve_on_one_counter(by_id[budget_id], counter_id, amount, now, starts)
    ids = sorted(counter_ids.values())
    budget_of = {counter_id: budget_id for budget_id, counter_id in counter_ids.items()}
    params = {
        "ids": ids,
        "caps": [by_id[budget_of[i]].amount for i in ids],
        "blocks": [by_id[budget_of[i]].action == BudgetAction.BLOCK for i in ids],
        "amount": amount,
        "now": now,
    }
    with connection.cursor() as cursor:  # autocommit: the statement is its own transaction
        cursor.execute(_RESERVE_SQL, params)
        rows = cursor.fetchall()
    if len(rows) < len(ids):  # a row went away: look again next time
        budget_cache.counter_ids.clear()
    downgrade_to = ""
    for _, budget_id, fits in rows:
        if fits:
            continue
        budget = by_id[budget_id]
        if budget.action == BudgetAction.BLOCK:
            raise _refusal(budget, starts[budget_id])
        downgrade_to = downgrade_to or budget.downgrade_model
    return Reservation(
        amount=amount, counter_ids=tuple(row[0] for row in rows), downgrade_to=downgrade_to
    )


def _reserve_on_one_counter(
    budget: ActiveBudget,
    counter_id: int,
    amount: Decimal,
    now: datetime,
    starts: dict[int, datetime],
) -> Reservation:
    blocks = budget.action == BudgetAction.BLOCK
    params = {
        "id": counter_id,
        "amount": amount,
        "now": now,
        "cap": budget.amount,
        "blocks": blocks,
    }
    with connection.cursor() as cursor:  # autocommit: the statement is its own transaction
        cursor.execute(_RESERVE_ONE_SQL, params)
        row = cursor.fetchone()
        if row is None:  # refused, or the row is gone: rare either way, so a query tells which
            cursor.execute(f"SELECT 1 FROM {_COUNTERS} WHERE id = %s", [counter_id])
            if cursor.fetchone() is not None:
                raise _refusal(budget, starts[budget.id])
            budget_cache.counter_ids.clear()  # look again next time
            return Reservation(amount=amount)
    downgrade_to = "" if row[0] else budget.downgrade_model
    return Reservation(amount=amount, counter_ids=(counter_id,), downgrade_to=downgrade_to)


def budget_settle(*, reservation: Reservation, cost: Decimal) -> None:
    """Release the reservation and add the call's real cost, once.

    Call it inside the transaction that records the call, so the counter and
    the call log commit (or fail) together."""
    if reservation.settled:
        return
    try:
        reservations_settle([(reservation, cost)])
    finally:
        reservation.settled = True  # never tried twice, as before: reconciliation repairs


def reservations_settle(items: list[tuple[Reservation, Decimal]]) -> None:
    """Settle many calls' reservations at once: one locked update per counter.

    The call writer (calls.services, through ``settle_hook``) calls it inside
    the transaction that writes the rows, so counters and the call log commit
    together, and a call's response never waits for a settle of its own. The
    writer marks the reservations settled once that transaction has committed."""
    deltas: dict[int, list[Decimal]] = {}
    for reservation, cost in items:
        if reservation.settled:
            continue
        for counter_id in reservation.counter_ids:
            delta = deltas.setdefault(counter_id, [ZERO, ZERO])
            delta[0] += reservation.amount
            delta[1] += cost
    if not deltas:
        return
    now = timezone.now()
    if connection.vendor == "postgresql":
        ids = sorted(deltas)
        with connection.cursor() as cursor:
            if len(ids) == 1:  # one counter: no lock order to keep, a plain update
                ((released, spent),) = deltas.values()
                params = {"id": ids[0], "released": released, "spent": spent, "now": now}
                cursor.execute(_SETTLE_ONE_SQL, params)
            else:
                released_each = [deltas[i][0] for i in ids]
                spent_each = [deltas[i][1] for i in ids]
                params = {"ids": ids, "released": released_each, "spent": spent_each, "now": now}
                cursor.execute(_SETTLE_SQL, params)
        return
    with transaction.atomic():
        locked = (
            BudgetCounter.objects.select_for_update()
            .filter(id__in=list(deltas))
            .order_by("id")
            .values_list("id", flat=True)
        )
        for counter_id in list(locked):
            released, spent = deltas[counter_id]
            BudgetCounter.objects.filter(id=counter_id).update(
                reserved=F("reserved") - released, spent=F("spent") + spent, updated_at=now
            )


# One statement for the whole batch, locking in id order like a reservation.
_SETTLE_SQL = f"""
WITH d AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(released)s::numeric[], %(spent)s::numeric[])
        AS d(id, released, spent)
), locked AS (
    SELECT c.id FROM {_COUNTERS} c WHERE c.id = ANY(%(ids)s::bigint[]) ORDER BY c.id FOR UPDATE
)
UPDATE {_COUNTERS} c
SET reserved = c.reserved - d.released, spent = c.spent + d.spent, updated_at = %(now)s
FROM d JOIN locked ON locked.id = d.id
WHERE c.id = d.id
"""
_SETTLE_ONE_SQL = f"""
UPDATE {_COUNTERS}
SET reserved = reserved - %(released)s, spent = spent + %(spent)s, updated_at = %(now)s
WHERE id = %(id)s
"""


def _counter_ids(
    budgets: list[ActiveBudget], starts: dict[int, datetime], now: datetime
) -> dict[int, int]:
    """Budget id -> the id of its counter row for this period, creating the
    rows that do not exist yet from the spend already in the log (a budget
    created mid-period, or a new period after calls that started before it).
    Racing creators: one insert wins."""
    known = budget_cache.counter_ids
    pairs = {b.id: (b.id, starts[b.id]) for b in budgets}
    if all(pair in known for pair in pairs.values()):
        return {budget_id: known[pair] for budget_id, pair in pairs.items()}
    existing = dict(BudgetCounter.objects.filter(_pairs_q(starts)).values_list("budget_id", "id"))
    missing = [b for b in budgets if b.id not in existing]
    if missing:
        rows = []
        for active in missing:
            budget = Budget.objects.filter(id=active.id).first()
            if budget is not None:
                spent = budget_spend(budget=budget, at=now).spend
                rows.append(
                    BudgetCounter(budget=budget, period_start=starts[active.id], spent=spent)
                )
        BudgetCounter.objects.bulk_create(rows, ignore_conflicts=True)
        existing = dict(
            BudgetCounter.objects.filter(_pairs_q(starts)).values_list("budget_id", "id")
        )
    known.update({pairs[budget_id]: counter_id for budget_id, counter_id in existing.items()})
    return existing


def _counters_locked(starts: dict[int, datetime]) -> dict[int, BudgetCounter]:
    rows = BudgetCounter.objects.select_for_update().filter(_pairs_q(starts)).order_by("budget_id")
    return {row.budget_id: row for row in rows}


def _pairs_q(starts: dict[int, datetime]) -> Q:
    query = Q(pk__in=[])
    for budget_id, start in starts.items():
        query |= Q(budget_id=budget_id, period_start=start)
    return query


def _decide(
    budgets: list[ActiveBudget],
    counters: dict[int, BudgetCounter],
    amount: Decimal,
    starts: dict[int, datetime],
) -> str:
    downgrade_to = ""
    for budget in budgets:
        counter = counters.get(budget.id)
        if counter is None:
            continue
        if counter.spent + counter.reserved + amount <= budget.amount:
            continue
        if budget.action == BudgetAction.BLOCK:
            raise _refusal(budget, starts[budget.id])
        downgrade_to = downgrade_to or budget.downgrade_model
    return downgrade_to


def _refusal(budget: ActiveBudget, start: datetime) -> LLMBudgetExceededError:
    _, end = period_bounds(budget.period, at=start)
    return LLMBudgetExceededError(
        f"Budget '{budget.name}' (${budget.amount} {budget.period}) is exhausted until "
        f"{end:%Y-%m-%d %H:%M} UTC.",
        code="budget_exceeded",
    )


def settle_hook(items: list[tuple[Reservation, Decimal]]) -> None:
    """What CostsConfig.ready() registers with the call writer; it looks the
    settle up at each call so the one implementation is always the one run."""
    reservations_settle(items)


# --- reconcile --------------------------------------------------------------------------


def counter_reconcile(
    *, budget: Budget, at: datetime | None = None, exact: bool = False
) -> BudgetCounter:
    """Bring this period's ``spent`` up to what the call log says.

    Only upwards unless ``exact``: the server settles a call a moment before
    its batched row is written, so a counter briefly ahead of the log is
    normal, while one behind it (calls that started before the counter
    existed, a leaked settle) is drift to repair. ``exact`` (after a reprice)
    sets it to the log. The row is locked first, so a settle waits for us."""
    now = at or timezone.now()
    start = period_bounds(budget.period, at=now)[0]
    BudgetCounter.objects.get_or_create(budget=budget, period_start=start)
    with transaction.atomic():
        counter = BudgetCounter.objects.select_for_update().get(budget=budget, period_start=start)
        logged = budget_spend(budget=budget, at=now).spend
        counter.spent = logged if exact else max(counter.spent, logged)
        if counter.reserved and now - counter.updated_at > STALE_RESERVATION:
            logger.warning("budget %s: releasing a leaked reservation", budget.id)
            counter.reserved = ZERO
        counter.save(update_fields=["spent", "reserved"])
    return counter
