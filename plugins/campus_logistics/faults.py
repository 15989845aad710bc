"""Fault injection for the distributed-engine test: hold one file's load open before its commit.

``CAMPUS_LOGISTICS_FAULT_PAUSE_BEFORE_COMMIT="<feed>:<seconds>:<flag file>"`` makes the first file
of ``<feed>`` that reaches its commit while ``<flag file>`` exists delete the flag and sleep
``<seconds>`` inside its open transaction. The flag's disappearance tells the test that rows are
written but not committed, so it can kill the worker at exactly that point; the retry finds no
flag and loads normally. Unset (production), this does nothing.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

ENV_PAUSE = "CAMPUS_LOGISTICS_FAULT_PAUSE_BEFORE_COMMIT"


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
