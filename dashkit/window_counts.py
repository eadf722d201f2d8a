"""How many calls a dashboard window holds, for pages of apps that do not own
the rollups (the quality page's feedback rate).

The app owning the rollups registers its reader (CostsConfig.ready); the kit
and the pages reading it import no app, so validation stays beside costs.
"""

from __future__ import annotations

from collections.abc import Callable

from dashkit.filters import DashboardFilters

CallCount = Callable[[DashboardFilters], int]


class _Source:
    count: CallCount | None = None


def call_count_source_register(count: CallCount) -> None:
    _Source.count = count


def window_call_count(filters: DashboardFilters) -> int | None:
    """Calls in the window and dimensions of ``filters``; None when nobody counts them."""
    return _Source.count(filters) if _Source.count is not None else None
