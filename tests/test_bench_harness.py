"""The benchmark harness: teardown, the loopback guard, the comparison and the profile.

The benches themselves are not run here (they need minutes and a quiet core);
these check the pieces whose mistakes would silently skew or leak a bench run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.harness import assert_loopback_only, listening_addresses, stop
from bench.profile import Profile, package_of, threads_share
from bench.rivals import ours_over, summary_line

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_stop_ends_a_server_and_the_processes_it_started():
    proc = subprocess.Popen(
        ["sh", "-c", "sleep 300 & echo $!; wait"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child = int(proc.stdout.readline())
    assert _alive(child)
    stop(proc)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is not None and not _alive(child)


def test_listening_addresses_reads_the_process_sockets_from_proc():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert f"127.0.0.1:{port}" in listening_addresses(os.getpid())
        assert_loopback_only(os.getpid(), "this test")


def test_a_server_listening_on_every_interface_is_refused():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))  # what the guard must catch; nothing connects
        sock.listen()
        with pytest.raises(RuntimeError, match=r"127\.0\.0\.1 only"):
            assert_loopback_only(os.getpid(), "this test")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_portkey_preload_binds_a_hostless_listen_to_the_loopback():
    server = "require('http').createServer(() => {}).listen(0, () => console.log('up'));"
    proc = subprocess.Popen(
        ["node", "--import", (ROOT / "bench" / "portkey_loopback.mjs").as_uri(), "-e", server],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout.readline().strip() == "up"
        addresses = listening_addresses(proc.pid)
        assert len(addresses) == 1 and addresses[0].startswith("127.0.0.1:")
    finally:
        stop(proc)


def _cell(case: str, stream: bool, concurrency: int, **figures: float) -> dict:
    return {"case": case, "stream": stream, "concurrency": concurrency, **figures}


def test_summary_divides_our_headline_cells_by_each_rivals():
    lines = [
        _cell("gateway", False, 1, added_p50_ms=1.5),
        _cell("portkey", False, 1, added_p50_ms=1.2),
        _cell("gateway", False, 50, rps=600.0, cpu_ms_per_call=1.8),
        _cell("portkey", False, 50, rps=650.0, cpu_ms_per_call=1.5),
        _cell("gateway", True, 1, ttft_added_p50_ms=1.0),
        _cell("portkey", True, 1, ttft_added_p50_ms=2.0),
        _cell("gateway", True, 50, rps=1.0),  # not a headline cell
    ]
    summary = summary_line(lines, 0)
    assert summary["cells"]["gateway"] == {
        "added_p50_ms_c1": 1.5,
        "rps_c50": 600.0,
        "cpu_ms_per_call_c50": 1.8,
        "ttft_added_p50_ms_c1": 1.0,
    }
    assert summary["ours_over"]["portkey"] == {
        "added_p50_ms_c1": 1.25,
        "rps_c50": 0.92,
        "ttft_added_p50_ms_c1": 0.5,
        "cpu_ms_per_call_c50": 1.2,
    }


def test_a_figure_missing_on_either_side_has_no_ratio():
    ratios = ours_over({"rps": 500.0, "added_p50_ms": 1.0}, {"rps": 0, "added_p50_ms": 2.0})
    assert ratios["rps"] is None and ratios["added_p50_ms"] == 0.5
    assert ratios["ttft_added_p50_ms"] is None


STACKS = """\
thread (11): MainThread;<module> (manage.py:1);main (manage.py:8);Runner.run (asyncio/runners.py:86) 5
thread (11): MainThread;<module> (manage.py:1);main (manage.py:8);Runner.run (asyncio/runners.py:86);handle (llm_gateway/api/http.py:10);walk (llm_gateway/x.py:1);walk (llm_gateway/x.py:1) 3
thread (12): call-records_0;Thread._bootstrap (threading.py:988);_write (llm_gateway/recorder.py:93);execute (django/db/backends/utils.py:9) 2
thread (13): MainThread;walk (llm_gateway/x.py:1) 1
thread (13): MainThread 1
"""  # noqa: E501


def test_profile_counts_own_time_at_the_leaf_and_cumulative_once_per_sample():
    profile = Profile.parse(STACKS)
    assert profile.total == 12
    assert profile.own["Runner.run (asyncio/runners.py:86)"] == 5
    assert profile.own["walk (llm_gateway/x.py:1)"] == 4
    assert profile.cumulative["walk (llm_gateway/x.py:1)"] == 4  # recursion counted once
    assert profile.cumulative["Runner.run (asyncio/runners.py:86)"] == 8
    assert profile.own["<no Python frame>"] == 1
    assert profile.threads == {"MainThread": 10, "call-records_0": 2}
    assert profile.thread_ids == {"11": "MainThread", "12": "call-records_0", "13": "MainThread"}


def test_profile_counts_stacks_read_without_their_outer_frames_as_torn():
    assert Profile.parse(STACKS).torn == 2  # the lone ``walk`` and the frameless sample


def test_profile_leaves_out_frames_that_only_pass_calls_through():
    profile = Profile.parse(STACKS)
    assert profile.pass_through("main (manage.py:8)")
    assert not profile.pass_through("Runner.run (asyncio/runners.py:86)")  # own time
    assert profile.pass_through("handle (llm_gateway/api/http.py:10)")


def test_profile_groups_own_time_by_top_level_package():
    assert package_of("execute (django/db/backends/utils.py:9)") == "django"
    assert package_of("Thread.run (threading.py:971)") == "threading"
    path = f"{sys.prefix}/lib/python3.11/site-packages/psycopg/connection.py"
    assert package_of(f"Connection.wait ({path}:479)") == "psycopg"
    assert Profile.parse(STACKS).by_package()["llm_gateway"] == 4


def test_time_under_a_function_counts_each_sample_once():
    profile = Profile.parse(STACKS)
    assert profile.under("walk ") == 4  # recursive: 4 samples, not 7
    assert profile.under("Runner.run ") == 8
    assert profile.under("nothing-like-this") == 0


def test_threads_cpu_share_names_threads_as_the_samples_do():
    cpu = Counter({"11": 6.0, "12": 3.0, "99": 0.5, "98": 0.5})
    shares = threads_share(cpu, {"11": "MainThread", "12": "call-records_0"})
    assert shares == {"MainThread": 0.6, "call-records_0": 0.3, "(not sampled)": 0.1}
