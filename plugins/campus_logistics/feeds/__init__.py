"""The landing-zone feeds, one module each (see ``registry.FEED_CLASSES``)."""

from __future__ import annotations

from importlib import import_module

from ..registry import FEED_CLASSES
from .base import Feed, LandingFile, LoadContext


def get_feed(name: str) -> Feed:
    if name not in FEED_CLASSES:
        raise KeyError(f"unknown feed {name!r}; known: {sorted(FEED_CLASSES)}")
    module, cls = FEED_CLASSES[name].split(":")
    return getattr(import_module(f"{__name__}.{module}"), cls)()


def all_feeds() -> dict[str, Feed]:
    return {name: get_feed(name) for name in FEED_CLASSES}


__all__ = ["Feed", "LandingFile", "LoadContext", "all_feeds", "get_feed"]
