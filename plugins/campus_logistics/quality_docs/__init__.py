"""Great Expectations Data Docs for the loads: saved per load, built once per DAG run, served offline."""

from .build import build, docs_dir, enabled, publish, save, site_dir

__all__ = ["build", "docs_dir", "enabled", "publish", "save", "site_dir"]
