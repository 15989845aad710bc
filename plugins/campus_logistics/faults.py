"""Fault injection: named places in the load path where a test makes the process die or wait.

Unset (production), every hook here does nothing but one environment look-up.

**Fault points** (the fault-injection tests, tests/integration/test_faults.py): ``CAMPUS_LOGISTICS_FAULT_POINT``
is ``<point>[@<n>][:<action>]``:

* ``<point>`` — one of :data:`POINTS`;
* ``@<n>`` — fire at the n-th time the point is reached in this process (default 1);
* ``:kill`` (default) — the process SIGKILLs itself there (no clean-up, no rollback by Python:
  the server sees the connection vanish mid-transaction);
* ``:block`` — the process writes ``CAMPUS_LOGISTICS_FAULT_READY`` (a file path) and waits until
  that file is removed (at most 120 s), so a test can act at that moment (kill the process from
  outside, terminate its database connection) and then let it go on.

**Pause before commit** (the distributed-engine test):
``CAMPUS_LOGISTICS_FAULT_PAUSE_BEFORE_COMMIT="<feed>:<seconds>:<flag file>"`` makes the first file
of ``<feed>`` that reaches its commit while ``<flag file>`` exists delete the flag and sleep
``<seconds>`` inside its open transaction. The flag's disappearance tells the test that rows are
written but not committed, so it can kill the worker at exactly that point; the retry finds no
flag and loads normally.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "CAMPUS_LOGISTICS_FAULT_POINT"
READY_ENV = "CAMPUS_LOGISTICS_FAULT_READY"
ENV_PAUSE = "CAMPUS_LOGISTICS_FAULT_PAUSE_BEFORE_COMMIT"

POINTS = {
    "after_gate": "a file passed its file-level gate (encoding, header); nothing staged yet",
    "mid_copy": "inside a COPY into a stage table, half of the batch sent",
    "before_publish": "the file is staged and audited, its core rows not yet replaced",
    "before_commit": "the file's core rows, quarantine and reconciliation are replaced, not committed",
    "kpi_recompute": "KPI rows of the affected periods replaced, the recompute not committed",
}

_seen: dict[str, int] = {}


def _spec() -> tuple[str, int, str] | None:
    raw = os.environ.get(ENV)
    if not raw:
        return None
    name, _, action = raw.partition(":")
    name, _, nth = name.partition("@")
    if name not in POINTS:
        raise ValueError(f"{ENV}={raw!r}: unknown fault point {name!r}; known: {sorted(POINTS)}")
    return name, int(nth or 1), action or "kill"


def fault_point(name: str) -> None:
    """Die (or block) here if the environment names this point; otherwise do nothing."""
    spec = _spec()
    if spec is None or spec[0] != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] != spec[1]:
        return
    if spec[2] == "block":
        ready = Path(os.environ[READY_ENV])
        ready.write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return
    os.kill(os.getpid(), signal.SIGKILL)


def pause_before_commit(feed: str, file: str) -> None:
    spec = os.environ.get(ENV_PAUSE)
    if not spec:
        return
    target, seconds, flag = spec.split(":", 2)
    if target != feed:
        return
    try:
        os.unlink(flag)  # claims the pause: only one load, once
    except FileNotFoundError:
        return
    log.warning("fault injection: %s/%s holds its transaction open for %s s before committing", feed, file, seconds)
    time.sleep(float(seconds))
