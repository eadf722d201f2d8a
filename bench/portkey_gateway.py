"""The Portkey AI Gateway, run beside ours by ``bench/overhead.py --portkey``.

Installed from the npm registry into ``.bench/`` on first use (never into the
project's requirements) and run as its own start script runs it
(``node build/start-server.js --port=N``, its defaults: no config file, no
Redis, in-memory request log), one Node process pinned to the gateway's core,
in front of the same fake upstream. Two things are not its defaults:

- ``@hono/node-server`` is held at 1.13.5 by an npm ``overrides``: the gateway
  accepts any ``^1.3.3``, and newer releases break its streamed answers.
- It would listen on every interface (its ``serve()`` call passes no host);
  ``portkey_loopback.mjs``, loaded first, binds it to 127.0.0.1, and the bench
  checks that it listens nowhere else.

Portkey routes each call by headers: ``x-portkey-provider: openai`` and
``x-portkey-custom-host`` (the fake upstream's ``/v1``; loopback hosts are in its
default trusted list). It checks no key of its own and passes the caller's
``Authorization`` to the upstream, so the bench sends the upstream key.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bench.harness import ROOT, assert_loopback_only, stop, wait_http

VERSION = "1.15.2"
NODE_SERVER = "1.13.5"
FOLDER = ROOT / ".bench" / f"portkey-{VERSION}"
PACKAGE = FOLDER / "node_modules" / "@portkey-ai" / "gateway"
LOOPBACK = Path(__file__).resolve().parent / "portkey_loopback.mjs"


def portkey_script() -> Path:
    """The gateway's start script, installing the pinned packages on first use."""
    done = FOLDER / ".installed"
    if not done.exists():
        FOLDER.mkdir(parents=True, exist_ok=True)
        manifest = {
            "name": "bench-portkey",
            "private": True,
            "dependencies": {"@portkey-ai/gateway": VERSION},
            "overrides": {"@hono/node-server": NODE_SERVER},
        }
        (FOLDER / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        # --ignore-scripts: its postinstall (patch-package) patches nothing it ships.
        npm = ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--omit=dev"]
        subprocess.run(npm, cwd=FOLDER, check=True, stdout=subprocess.DEVNULL)
        _check_version(PACKAGE, VERSION)
        _check_version(FOLDER / "node_modules" / "@hono" / "node-server", NODE_SERVER)
        done.touch()
    return PACKAGE / "build" / "start-server.js"


def _check_version(package: Path, expected: str) -> None:
    found = json.loads((package / "package.json").read_text())["version"]
    if found != expected:
        raise RuntimeError(f"{package.name} {found} installed, the bench pins {expected}")


def portkey_headers(upstream_url: str, upstream_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {upstream_key}",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"{upstream_url}/v1",
    }


def start_portkey(*, port: int, cpu: list[str], folder: Path) -> subprocess.Popen:
    """Start the gateway on 127.0.0.1:``port`` and wait until it answers."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(folder))}
    cmd = [*cpu, "node", "--import", LOOPBACK.as_uri(), str(portkey_script()), f"--port={port}"]
    log = (folder / "portkey.log").open("w")
    proc = subprocess.Popen(
        cmd, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_http(f"http://127.0.0.1:{port}/", proc, 60, f"the Portkey gateway (see {log.name})")
    try:
        assert_loopback_only(proc.pid, "the Portkey gateway")
    except BaseException:
        stop(proc)
        raise
    return proc
