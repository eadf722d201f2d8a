"""The LiteLLM proxy, run beside the gateway by ``bench/overhead.py --litellm``.

It is installed from PyPI into a virtualenv of its own under ``.bench/`` (never
into the project's requirements) and run as its defaults run it: one process,
no database, pinned to the gateway's core, in front of the same fake upstream.
The team's anchor for it (11.6 ms added at c=1, ~90 req/s at c=50) was measured
with this version.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.harness import wait_http

ROOT = Path(__file__).resolve().parent.parent
VERSION = "1.108.7"
VENV = ROOT / ".bench" / f"litellm-{VERSION}"
MASTER_KEY = "sk-bench-litellm-master"


def litellm_command() -> Path:
    """The proxy's command, installing it on first use (a minute or two)."""
    command = VENV / "bin" / "litellm"
    done = VENV / ".installed"
    if not done.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, f"litellm[proxy]=={VERSION}"], check=True)
        done.touch()
    return command


def start_litellm(
    *, port: int, upstream_url: str, upstream_key: str, model: str, cpu: list[str], folder: Path
) -> subprocess.Popen:
    """Start the proxy on ``port`` and wait until it answers."""
    config = folder / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: {upstream_url}/v1\n"
        f"      api_key: {upstream_key}\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(folder)),
        # No network here: the bundled price map, no telemetry.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
    }
    cmd = [*cpu, str(litellm_command()), "--config", str(config)]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    log = (folder / "litellm.log").open("w")
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    health = f"http://127.0.0.1:{port}/health/liveliness"
    wait_http(health, proc, 120, f"the LiteLLM proxy (see {folder / 'litellm.log'})")
    return proc
