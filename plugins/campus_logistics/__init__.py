"""campus-logistics: landing zone → Great Expectations → PostgreSQL warehouse → reform KPIs."""

__version__ = "0.1.0"
