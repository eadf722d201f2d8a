"""Where the gateway's CPU goes during a c=50 cell: a sampled profile.

The stack of ``bench/overhead.py`` (fake upstream and load on CPU 0, the gateway
as one ``manage.py serve`` process pinned to CPU 1, the same key limits and
budget), warmed up, then py-spy samples the gateway process while the load
generator sends the cell's calls. py-spy reads the process's memory from
outside without pausing it (no code in the gateway) and counts the threads
that the kernel reports running or ready to run. The tables give each
function's share of the samples and that share of the CPU per call that /proc
measured over the cell (ms/call). C code (uvloop, httptools, jiter, the
database driver) is counted in the Python function that called it;
``Runner.run``'s own time is the event loop's.

On a busy machine a thread waiting for the core is sampled as if it ran, and
mostly where the kernel preempted it (leaving a syscall), which inflates the
functions that make syscalls; ``sampled_over_proc`` in the JSON line is then
well above 1. ``--nice -10`` raises the gateway's (and the sampler's) share of
the machine for the cell; below 1, the sampler missed samples, which only
makes the shares coarser.

    python bench/profile.py                       # c=50, 10 000 calls, top 25
    python bench/profile.py --nice -10            # on a machine others are using
    python bench/profile.py --stream --top 40
    DATABASE_URL=postgres://… REDIS_URL=redis://… python bench/profile.py

Prints three Markdown tables (functions by own time, functions by cumulative
time, own time by package) and one JSON line; the raw stacks (collapsed, for a
flame graph) are kept in ``bench/results/``. py-spy is taken from the PATH or
the virtualenv, else installed from PyPI into ``.bench/`` on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder is sys.path[0], where this file would stand in for
# the standard library's ``profile`` (cProfile imports it): the root instead.
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)

from bench.harness import Stack, cpu_seconds, gateway_stack, pinned  # noqa: E402
from bench.overhead import bearer, measure  # noqa: E402

PY_SPY = "0.4.3"
# The outermost frame of a whole stack: the server's script, or a thread's start.
ROOT_FRAMES = ("<module> ", "Thread._bootstrap ")
RESULTS = ROOT / "bench" / "results"


def py_spy_command() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found:
        return found
    venv = ROOT / ".bench" / f"py-spy-{PY_SPY}"
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, f"py-spy=={PY_SPY}"], check=True)
        (venv / ".installed").touch()
    return str(venv / "bin" / "py-spy")


@dataclass
class Profile:
    """Sample counts from py-spy's collapsed stacks (``frame;frame;… count``)."""

    total: int = 0
    own: Counter = field(default_factory=Counter)
    cumulative: Counter = field(default_factory=Counter)
    threads: Counter = field(default_factory=Counter)
    callees: dict[str, set[str]] = field(default_factory=dict)
    stacks: list[tuple[list[str], int]] = field(default_factory=list)
    torn: int = 0
    thread_ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Profile:
        profile = cls()
        for row in text.splitlines():
            stack, _, count = row.rpartition(" ")
            if stack:
                profile.add(stack.split(";"), int(count))
        return profile

    def add(self, frames: list[str], samples: int) -> None:
        if frames[0].startswith("thread ("):  # --threads: the thread comes first
            thread = frames.pop(0)
            self.threads[_thread_name(thread)] += samples
            self.thread_ids[thread[8:].split(")", 1)[0]] = _thread_name(thread)
        frames = frames or ["<no Python frame>"]  # C code on a thread of its own
        self.total += samples
        self.stacks.append((frames, samples))
        if not frames[0].startswith(ROOT_FRAMES):
            self.torn += samples
        self.own[frames[-1]] += samples
        for frame in set(frames):  # a recursive function counts once per sample
            self.cumulative[frame] += samples
        for caller, callee in pairwise(frames):
            self.callees.setdefault(caller, set()).add(callee)

    def pass_through(self, frame: str) -> bool:
        """A frame with no time of its own and a single callee (``main``, the
        server's run loop wrappers): the callee's line says the same."""
        return not self.own[frame] and len(self.callees.get(frame, ())) == 1

    def under(self, prefix: str) -> int:
        """Samples with a frame whose name starts with ``prefix`` (each counted once)."""
        return sum(n for frames, n in self.stacks if any(f.startswith(prefix) for f in frames))

    def by_package(self) -> Counter:
        packages = Counter()
        for frame, samples in self.own.items():
            packages[package_of(frame)] += samples
        return packages


def _thread_name(frame: str) -> str:
    """``thread (0x7f…)`` or ``thread (123): name``: keep the name when there is one."""
    name = frame.split(":", 1)[1].strip() if ":" in frame else frame
    return name or frame


def package_of(frame: str) -> str:
    """``handle (django/core/handlers/asgi.py:160)`` → ``django``; a top-level
    module (``threading.py``) is its own package."""
    location = frame.rpartition(" (")[2].rstrip(")")
    path = location.rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    head = path.lstrip("./").split("/", 1)[0]
    return head.removesuffix(".py") or frame


def table(title: str, rows: list[tuple[str, int, int]], profile: Profile, ms_per: float) -> str:
    """A Markdown table: name, own and cumulative share of the samples and ms per call."""
    lines = [
        f"**{title}**",
        "",
        "| # | function (file:first line) | own % | own ms/call | cum % | cum ms/call |",
        "|---|---|---|---|---|---|",
    ]
    for rank, (name, own, cum) in enumerate(rows, 1):
        label = name.replace("|", "\\|")
        lines.append(
            f"| {rank} | `{label}` | {own * 100 / profile.total:.1f} | {own * ms_per:.3f} "
            f"| {cum * 100 / profile.total:.1f} | {cum * ms_per:.3f} |"
        )
    return "\n".join(lines)


def report(profile: Profile, *, top: int, cpu_ms_per_call: float, focus: list[str] = ()) -> str:
    """The tables; ms/call is a share of the samples times the CPU per call that
    /proc measured (the samples also count time spent waiting for the core)."""
    ms_per = cpu_ms_per_call / profile.total  # one sample's worth of CPU, per call
    by_own = [(f, n, profile.cumulative[f]) for f, n in profile.own.most_common(top)]
    ranked = [(f, n) for f, n in profile.cumulative.most_common() if not profile.pass_through(f)]
    by_cum = [(f, profile.own[f], n) for f, n in ranked[:top]]
    packages = [
        f"| {name} | {n * 100 / profile.total:.1f} | {n * ms_per:.3f} |"
        for name, n in profile.by_package().most_common(top)
    ]
    return "\n\n".join(
        [
            table(f"Top {top} functions by own time", by_own, profile, ms_per),
            table(
                f"Top {top} functions by cumulative time (pass-through frames left out)",
                by_cum,
                profile,
                ms_per,
            ),
            "**Own time by package**\n\n| package | own % | own ms/call |\n|---|---|---|\n"
            + "\n".join(packages),
            *([focused(profile, focus, ms_per)] if focus else []),
        ]
    )


def focused(profile: Profile, prefixes: list[str], ms_per: float) -> str:
    """Time under chosen functions (``--focus``), each sample counted once."""
    rows = ["**Under chosen functions**", "", "| function | cum % | cum ms/call |", "|---|---|---|"]
    for prefix in prefixes:
        n = profile.under(prefix)
        rows.append(f"| `{prefix}` | {n * 100 / profile.total:.1f} | {n * ms_per:.3f} |")
    return "\n".join(rows)


def start_py_spy(pid: int, rate: int, output: Path, *, blocking: bool) -> subprocess.Popen:
    cmd = [*pinned(0), py_spy_command(), "record", "--pid", str(pid), "--rate", str(rate)]
    cmd += ["--format", "raw", "--function", "--threads", "--output", str(output)]
    # Paused at each sample, the process's stacks are whole, but py-spy then
    # counts threads waiting on a lock as running: only the GIL's holder is kept.
    # Not paused, some stacks are torn (their outer frames missing), so the
    # cumulative figures are lower bounds; own time is not affected.
    cmd += ["--gil"] if blocking else ["--nonblocking"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    for line in proc.stdout:  # "py-spy> Sampling process 200 times a second…"
        if "Sampling process" in line:
            return proc
    raise RuntimeError(f"py-spy did not start (exit {proc.wait()}); can it ptrace?")


def stop_py_spy(proc: subprocess.Popen) -> None:
    """SIGINT: py-spy writes the stacks it has, then exits."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def thread_cpu(pid: int) -> Counter:
    """CPU seconds so far of each thread of the process, by thread id: what the
    samples' split between threads is checked against."""
    ticks = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        ticks[task.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return ticks


def prioritise(pid: int, nice: int) -> None:
    """Raise the gateway's share of its core against the machine's other work.

    A thread that is ready to run but waits for the core counts as running in
    the samples, mostly where the kernel preempted it (on the way out of a
    syscall), which inflates the functions that make syscalls. The kernel
    shares a core between sessions (autogroups) first, so a thread's own nice
    does not help; the session's does. The gateway leads a session of its own.
    """
    Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def profile_cell(args: argparse.Namespace, db_url: str, output: Path) -> dict:
    base_env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    stack_options = {"db_url": db_url, "base_env": base_env, "workers": 1, "budget": args.budget}
    with gateway_stack(latency_ms=0, **stack_options) as stack:
        load = {"concurrency": args.concurrency, "stream": args.stream}
        asyncio.run(measure(stack.gateway_url, bearer(stack.key), total=500, **load))  # warm-up
        spy = start_py_spy(stack.gateway.pid, args.rate, output, blocking=args.blocking)
        try:
            if args.nice:  # the sampler too: starved, it takes fewer samples
                prioritise(stack.gateway.pid, args.nice)
                prioritise(spy.pid, args.nice)
            return sampled_cell(stack, args.requests, load)
        finally:
            stop_py_spy(spy)


def sampled_cell(stack: Stack, requests: int, load: dict) -> dict:
    """The cell's calls, with the gateway's CPU (whole and per thread) around them."""
    pid = stack.gateway.pid
    cpu_before, threads, started = cpu_seconds(pid), thread_cpu(pid), time.monotonic()
    result = asyncio.run(measure(stack.gateway_url, bearer(stack.key), total=requests, **load))
    wall = time.monotonic() - started
    cpu_used = cpu_seconds(pid) - cpu_before
    threads = thread_cpu(pid) - threads
    return {
        "rps": round(len(result.samples) / wall, 1),
        "failures": sum(not s.ok for s in result.samples),
        "cpu": cpu_used,
        "threads": threads,
    }


def threads_share(cpu: Counter, names: dict[str, str]) -> dict[str, float]:
    """Each thread's share of the process's CPU (/proc), named as py-spy names
    it; threads py-spy never sampled (idle, or never holding the GIL) together."""
    total = sum(cpu.values()) or 1
    named = Counter()
    for tid, seconds in cpu.items():
        named[names.get(tid, "(not sampled)")] += seconds
    return {name: round(n / total, 3) for name, n in named.most_common() if n > 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--stream", action="store_true", help="profile streamed calls")
    parser.add_argument("--budget", default="alert", choices=("alert", "block", "none"))
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="the gateway session's nice for the cell (-10 on a busy machine; needs root)",
    )
    parser.add_argument(
        "--blocking",
        action="store_true",
        help="pause the gateway at each sample: whole stacks, only the thread holding the GIL",
    )
    parser.add_argument(
        "--focus", default="", help="comma-separated function names (prefixes): time under each"
    )
    parser.add_argument("--stacks", type=Path, help="report on a kept stacks file, run nothing")
    parser.add_argument("--cpu-ms-per-call", type=float, help="with --stacks: its JSON line's")
    args = parser.parse_args()
    args.focus = [name.strip() for name in args.focus.split(",") if name.strip()]
    if args.stacks:
        profile = Profile.parse(args.stacks.read_text())
        cpu = args.cpu_ms_per_call or profile.total * 1000 / args.rate / args.requests
        print(report(profile, top=args.top, cpu_ms_per_call=cpu, focus=args.focus))
        return
    profile_and_report(args)


def profile_and_report(args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    kind = "stream" if args.stream else "chat"
    output = RESULTS / f"profile-{kind}-c{args.concurrency}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    with tempfile.TemporaryDirectory() as tmp:
        db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
        run = profile_cell(args, db_url, output)
    profile = Profile.parse(output.read_text())
    cpu_ms_per_call = run["cpu"] * 1000 / args.requests
    print(report(profile, top=args.top, cpu_ms_per_call=cpu_ms_per_call, focus=args.focus))
    summary = {
        "case": "profile",
        "stream": args.stream,
        "concurrency": args.concurrency,
        "requests": args.requests,
        "failures": run["failures"],
        "rps_while_sampled": run["rps"],
        "db": db_url.split(":")[0],
        "nice": args.nice,
        "samples": profile.total,
        "sampled_cpu_ms_per_call": round(profile.total * 1000 / args.rate / args.requests, 3),
        "proc_cpu_ms_per_call": round(cpu_ms_per_call, 3),
        "sampled_over_proc": round(profile.total / args.rate / run["cpu"], 2),
        "torn_stacks_share": round(profile.torn / profile.total, 3),
        "blocking": args.blocking,
        "threads_share": {
            name: round(n / profile.total, 3) for name, n in profile.threads.most_common()
        },
        "threads_cpu_share": threads_share(run["threads"], profile.thread_ids),
        "stacks": str(output.relative_to(ROOT)),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
