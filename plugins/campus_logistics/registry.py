"""The names of the feeds and KPI groups, kept import-light so DAG files can read them at parse time.

Adding a feed: write ``feeds/<name>.py`` (a ``Feed`` subclass named in ``FEED_CLASSES``), a DAG
file ``dags/feed_<name>.py``, and list it here. Adding KPIs: write ``kpis/<group>.py`` defining
``GROUP`` and ``include/sql/kpi/<group>.sql``, and list the group here.
"""

# feed name -> "module:Class" under campus_logistics.feeds
FEED_CLASSES = {
    "canteen": "canteen:CanteenFeed",
    "meters": "meters:MetersFeed",
    "work_orders": "work_orders:WorkOrdersFeed",
    "surveys": "surveys:SurveysFeed",
    "staff": "staff:StaffFeed",
    "ledger": "ledger:LedgerFeed",
}

# KPI group modules under campus_logistics.kpis, each defining GROUP
GROUP_MODULES = [
    "canteen",
    "utilities",
    "repairs",
    "satisfaction",
    "staffing",
    "books",
]

FEEDS = tuple(FEED_CLASSES)
