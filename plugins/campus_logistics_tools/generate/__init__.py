"""Scenario generator: writes landing-zone files (never KPIs).

``generate("seed", out)`` writes the case-study year 2001 (see ``seed.py``);
``generate("scale", out, scale=40_000, days=7)`` writes a large-university volume test
(see ``scale.py``). Both are deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

SCENARIOS = ("seed", "scale")


def generate(scenario: str = "seed", out: Path | str | None = None, scale: int | None = None,
             days: int | None = None, start: dt.date | None = None) -> dict:
    """Write a complete landing directory under ``out`` and return a small summary:
    ``{"scenario", "out", "period", "files": {feed: n}, "rows": {feed: n}, "bad_rows": [...]}``.

    * ``scenario="seed"`` with no ``scale``/``days``/``start``: the case-study college, 2001.
    * ``scenario="scale"`` — or ``"seed"`` with any of ``scale``/``days``/``start`` given — writes
      the volume scenario: ``scale`` students (default 40,000), ``days`` days (default 1) from
      ``start`` (default 2024-09-02).

    The injected bad rows are also written to ``<out>/_scenario/bad_rows.json`` (no feed reads
    ``_scenario/``).
    """
    if out is None:
        raise ValueError("generate(): 'out' (the landing directory to write) is required")
    out = Path(out)
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if isinstance(start, str):
        start = dt.date.fromisoformat(start)
    if scenario == "scale" or scale is not None or days is not None or start is not None:
        from .scale import generate_scale

        return generate_scale(out, students=scale, days=days, start=start)
    from .seed import generate_seed

    return generate_seed(out)


__all__ = ["generate", "SCENARIOS"]
