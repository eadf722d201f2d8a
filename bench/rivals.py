"""Other gateways measured beside ours in ``bench/overhead.py`` (``--litellm``,
``--portkey``): each pinned to the gateway's core, in front of the same fake
upstream, each cell measured right after ours against the same direct run.

Every rival's line carries ``ours_over``: our figure divided by its figure for
the same cell (added time and CPU: below 1 is better for us; req/s: above 1).
The run ends with one ``summary`` line: the four headline cells of every
gateway and those ratios.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import UPSTREAM_KEY, cpu_seconds, free_port, pinned, stop

# The headline cells: (field, stream, concurrency) of each gateway's cell line.
HEADLINE = {
    "added_p50_ms_c1": ("added_p50_ms", False, 1),
    "rps_c50": ("rps", False, 50),
    "ttft_added_p50_ms_c1": ("ttft_added_p50_ms", True, 1),
    "cpu_ms_per_call_c50": ("cpu_ms_per_call", False, 50),
}
COMPARED = ("added_p50_ms", "rps", "ttft_added_p50_ms", "cpu_ms_per_call")


@dataclass
class Target:
    """Where a cell's calls go: the upstream itself (no process of ours to
    watch), our gateway, or a rival."""

    name: str
    proc: subprocess.Popen | None
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc is not None else 0.0


def _litellm(upstream_url: str, model: str, folder: Path) -> Target:
    from bench.litellm_proxy import MASTER_KEY, VERSION, start_litellm

    port = free_port()
    proc = start_litellm(
        port=port,
        upstream_url=upstream_url,
        upstream_key=UPSTREAM_KEY,
        model=model,
        cpu=pinned(1),
        folder=folder,
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    return Target(f"litellm-{VERSION}", proc, url, {"Authorization": f"Bearer {MASTER_KEY}"})


def _portkey(upstream_url: str, model: str, folder: Path) -> Target:
    from bench.portkey_gateway import VERSION, portkey_headers, start_portkey

    port = free_port()
    proc = start_portkey(port=port, cpu=pinned(1), folder=folder)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    return Target(f"portkey-{VERSION}", proc, url, portkey_headers(upstream_url, UPSTREAM_KEY))


STARTERS = {"litellm": _litellm, "portkey": _portkey}


@contextlib.contextmanager
def rivals_running(names: list[str], upstream_url: str, model: str) -> Iterator[list[Target]]:
    """Start the named rivals (each with a scratch folder for its config and log)
    and stop every one of them, whatever happens in between."""
    rivals: list[Target] = []
    try:
        for name in names:
            folder = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
            rivals.append(STARTERS[name](upstream_url, model, folder))
        yield rivals
    finally:
        for rival in rivals:
            stop(rival.proc)


def ours_over(ours: dict, theirs: dict, keys=COMPARED) -> dict[str, float | None]:
    """Our figure / theirs, per field; None where either is missing."""
    return {
        k: round(ours[k] / theirs[k], 2) if ours.get(k) and theirs.get(k) else None for k in keys
    }


def summary_line(lines: list[dict], latency_ms: int) -> dict:
    """The headline cells of each gateway in this run, and ours over each rival's."""
    cells: dict[str, dict] = {}
    for line in lines:
        for name, (key, stream, concurrency) in HEADLINE.items():
            if (line["stream"], line["concurrency"]) == (stream, concurrency):
                cells.setdefault(line["case"], {})[name] = line.get(key)
    ours = cells.get("gateway", {})
    ratios = {
        rival: ours_over(ours, theirs, HEADLINE)
        for rival, theirs in cells.items()
        if rival != "gateway"
    }
    return {
        "case": "summary",
        "upstream_latency_ms": latency_ms,
        "cells": cells,
        "ours_over": ratios,
    }
