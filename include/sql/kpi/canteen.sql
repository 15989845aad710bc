-- Canteen KPIs for one grain (day | month | year) and the period starts in %(periods)s, from the exact
-- daily aggregates in mart.canteen_daily (refreshed for the touched days before this runs).
-- Monthly and annual diners and capture rate are means of the daily values (kpis.md).
-- Rows: kpi_code, unit_code, period_start, value, baseline.
WITH per_period AS (
    SELECT date_trunc(%(grain)s, day)::date AS period_start, unit_code,
           sum(revenue_yuan) AS revenue, sum(transactions) AS transactions,
           avg(diners) AS diners,
           avg(student_diners::numeric / NULLIF(students, 0)) AS capture_rate
    FROM mart.canteen_daily
    WHERE day >= %(lo)s AND day < %(hi)s
    GROUP BY 1, 2
    HAVING date_trunc(%(grain)s, day)::date = ANY(%(periods)s)
)
SELECT 'canteen_revenue_yuan', unit_code, period_start, revenue, NULL::numeric FROM per_period
UNION ALL SELECT 'canteen_transactions', unit_code, period_start, transactions, NULL FROM per_period
UNION ALL SELECT 'canteen_avg_ticket_yuan', unit_code, period_start, revenue / NULLIF(transactions, 0), NULL
          FROM per_period WHERE transactions > 0
UNION ALL SELECT 'canteen_diners', unit_code, period_start, diners, NULL FROM per_period
UNION ALL SELECT 'canteen_capture_rate', unit_code, period_start, capture_rate, NULL
          FROM per_period WHERE capture_rate IS NOT NULL
