"""The KPI catalog and its computation."""
