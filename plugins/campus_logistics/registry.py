"""The feeds, declared as data (one ``FeedSpec`` each), and the KPI groups; import-light, so DAG
files, the DAG factory, the bench and the docs read them at parse time.

Adding a feed: write ``feeds/<name>.py`` (a ``load.runner.Feed`` with the feed's domain hooks), its
publish SQL ``include/sql/publish/<name>.sql``, a DAG file ``dags/feed_<name>.py``, and declare it
here. Adding KPIs: write ``kpis/<group>.py`` defining ``GROUP`` and ``include/sql/kpi/<group>.sql``,
and list the group here.
"""

from .load.spec import FeedSpec

DAILY = "0 0 * * *"  # 00:00 Asia/Shanghai
MONTHLY = "0 0 1 * *"

SPECS = {spec.name: spec for spec in (
    FeedSpec(
        name="canteen", feed_class="canteen:CanteenFeed", folder="canteen", prefix="canteen_", suffix=".csv",
        tables=("core.canteen_txn", "core.canteen_txn_key"),
        cadence="day", cron=DAILY, format="csv", encoding="gb18030",
        columns=("流水号", "卡号", "身份", "交易时间", "商户名称", "终端号", "交易金额", "交易类型", "原流水号"),
        types=(("流水号", "text"), ("卡号", "text, pseudonymised"), ("身份", "学生/教职工/其他"),
               ("交易时间", "local timestamp"), ("商户名称", "an outlet of ref/outlets.csv"), ("终端号", "text"),
               ("交易金额", "yuan, 2 decimals"), ("交易类型", "消费/冲正/退款"), ("原流水号", "text")),
        rules=("txn_id_present", "card_present", "holder_type_known", "time_parseable", "time_not_after_file_day",
               "time_within_late_window", "outlet_known", "amount_parseable", "amount_plausible", "type_known",
               "amount_sign_matches_type", "original_id_matches_type"),
        duplicate_key=("txn_id",),
        duplicate_content=("card_hash", "holder_type", "txn_time", "outlet_code", "terminal", "amount_yuan",
                           "txn_type", "orig_txn_id"),
        plausible=(("交易金额", "max_canteen_amount"), ("交易时间", "late_window_days")),
        publish_sql="canteen.sql",
    ),
    FeedSpec(
        name="meters", feed_class="meters:MetersFeed", folder="meters", prefix="meters_", suffix=".csv",
        tables=("core.meter_reading", "core.meter_daily", "core.meter_file"),
        cadence="day", cron=DAILY, format="csv", encoding="utf-8",
        columns=("meter_id", "read_at", "reading", "status"),
        types=(("meter_id", "a meter of ref/meters.csv"), ("read_at", "ISO-8601 timestamp"),
               ("reading", "cumulative register"), ("status", "ok/estimated/replaced")),
        rules=("meter_known", "read_at_parseable", "read_at_in_file_day", "reading_parseable", "reading_plausible",
               "status_known"),
        duplicate_key=("meter_id", "us"), duplicate_content=("reg", "status"),
        duplicate_conflict="duplicate_reading_conflict",
        plausible=(("reading", "max_meter_reading"),),
        sequential=True,
    ),
    FeedSpec(
        name="work_orders", feed_class="work_orders:WorkOrdersFeed", folder="work_orders", prefix="work_orders_",
        tables=("core.work_order_version", "core.work_order"),
        suffix=".json", cadence="day", cron=DAILY, format="json",
        columns=("order_id", "category", "unit_code", "building_code", "room", "created_at", "dispatched_at",
                 "arrived_at", "completed_at", "status", "rating", "reopened", "updated_at"),
        rules=("row_is_object", "fields_complete", "no_unknown_fields", "order_id_present", "category_known",
               "unit_known", "created_at_valid", "updated_at_valid", "dispatched_at_valid", "arrived_at_valid",
               "completed_at_valid", "status_known", "rating_integer", "rating_in_range", "reopened_boolean",
               "completed_has_completed_at", "dispatched_not_before_created", "arrived_not_before_created",
               "completed_not_before_created", "updated_at_not_after_file_day", "times_not_after_file_day",
               "times_within_ticket_age"),
        duplicate_key=("order_id", "updated_at"),
        duplicate_content=("category", "unit_code", "building_code", "room", "created_at", "dispatched_at",
                           "arrived_at", "completed_at", "status", "rating", "reopened"),
        plausible=(("created_at", "max_ticket_age_days"),),
        publish_sql="work_orders.sql",
    ),
    FeedSpec(
        name="surveys", feed_class="surveys:SurveysFeed", folder="surveys", prefix="survey_", suffix=".xlsx",
        tables=("core.survey_answer",),
        cadence="wave", cron=DAILY, format="xlsx",
        rules=("response_no_present", "submitted_at_valid", "submitted_at_near_wave", "holder_type_known",
               "answer_on_scale"),
        duplicate_key=("response_no",), duplicate_content=("holder_type", "submitted_at", "answers"),
        duplicate_conflict="duplicate_response_conflict",
        plausible=(("提交答卷时间", "survey_window_days"),),
        publish_sql="surveys.sql",
    ),
    FeedSpec(
        name="staff", feed_class="staff:StaffFeed", folder="staff", prefix="staff_", suffix=".csv",
        tables=("core.staff_month",),
        cadence="month", cron=MONTHLY, format="csv", encoding="utf-8",
        columns=("month", "staff_id", "unit_code", "role", "origin", "payer", "monthly_cost_yuan"),
        types=(("month", "the file's month"), ("staff_id", "text, pseudonymised"),
               ("unit_code", "a unit of ref/sub_centres.csv"), ("role", "management/cook/service/technician"),
               ("origin", "school_establishment/school_transfer/social_hire"), ("payer", "school/centre"),
               ("monthly_cost_yuan", "yuan ≥ 0, 2 decimals")),
        rules=("month_parseable", "month_matches_file", "staff_id_present", "unit_known", "role_known", "origin_known",
               "payer_known", "cost_parseable", "cost_not_negative", "cost_max_2_decimals", "cost_plausible"),
        duplicate_key=("staff_hash",), duplicate_content=("unit_code", "role", "origin", "payer", "monthly_cost_yuan"),
        duplicate_conflict="person_conflicting_rows",
        plausible=(("monthly_cost_yuan", "max_staff_cost"),),
        publish_sql="staff.sql",
    ),
    FeedSpec(
        name="ledger", feed_class="ledger:LedgerFeed", folder="ledger", prefix="ledger_", suffix=".csv",
        tables=("core.ledger_line",),
        cadence="month", cron=MONTHLY, format="csv", encoding="utf-8",
        columns=("month", "unit_code", "entry_type", "category", "amount_yuan", "funding_source", "memo"),
        types=(("month", "the file's month"), ("unit_code", "a unit of ref/sub_centres.csv"),
               ("entry_type", "revenue/cost/capital_in/capex"), ("category", "text"),
               ("amount_yuan", "yuan > 0, 2 decimals"), ("funding_source", "school/centre/social"), ("memo", "text")),
        rules=("month_parseable", "month_matches_file", "unit_known", "entry_type_known", "amount_parseable",
               "amount_positive", "amount_max_2_decimals", "amount_plausible", "funding_source_known"),
        plausible=(("amount_yuan", "max_ledger_amount"),),
        publish_sql="ledger.sql",
    ),
)}

# KPI group modules under campus_logistics.kpis, each defining GROUP
GROUP_MODULES = [
    "canteen",
    "utilities",
    "repairs",
    "satisfaction",
    "staffing",
    "books",
]

FEEDS = tuple(SPECS)
