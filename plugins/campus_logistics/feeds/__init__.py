"""The landing-zone feeds' domain hooks, one module each (declared in ``registry.SPECS``)."""

from __future__ import annotations

from importlib import import_module

from ..registry import SPECS


def get_feed(name: str):
    """The feed's ``load.runner.Feed`` (its spec and domain hooks)."""
    if name not in SPECS:
        raise KeyError(f"unknown feed {name!r}; known: {sorted(SPECS)}")
    module, cls = SPECS[name].feed_class.split(":")
    return getattr(import_module(f"{__name__}.{module}"), cls)()


__all__ = ["get_feed"]
