"""Great Expectations Data Docs for the loads: built per load task, served offline."""

from .build import docs_dir, enabled, publish, site_dir

__all__ = ["docs_dir", "enabled", "publish", "site_dir"]
