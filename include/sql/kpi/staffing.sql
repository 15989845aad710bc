-- Staffing and the reform, grain 'month' (annual rows are rolled up from the stored months:
-- headcounts, norms and stage = the year's last month with data; savings = the sum of the months).
-- A month is computed when the roster covers it (core.staff_month has rows for it).
-- Rows: kpi_code, unit_code, period_start, value, baseline.
WITH months AS (
    SELECT DISTINCT s.month
    FROM core.staff_month s
    WHERE %(grain)s = 'month' AND s.month >= %(lo)s AND s.month < %(hi)s AND s.month = ANY(%(periods)s)
),
params AS (
    SELECT (SELECT value FROM core.baseline WHERE key = 'admin_staff_per_1000_students') AS admin_per_1000,
           (SELECT value FROM core.baseline WHERE key = 'students_per_cook') AS students_per_cook
),
norms AS (             -- NULL (absent) when the month's enrolment or the baseline is missing
    SELECT m.month,
           p.admin_per_1000 * floor(e.students / 1000.0) AS admin_norm,
           floor(e.students / NULLIF(p.students_per_cook, 0)) AS cook_norm
    FROM months m CROSS JOIN params p
    LEFT JOIN core.enrolment e ON e.month = m.month
),
staff AS (
    SELECT s.* FROM core.staff_month s JOIN months m ON m.month = s.month
),
campus AS (
    SELECT s.month,
           count(DISTINCT s.staff_hash) FILTER (WHERE s.role = 'management') AS admin,
           count(DISTINCT s.staff_hash) FILTER (WHERE s.role = 'cook' AND s.payer = 'centre') AS cooks,
           count(DISTINCT s.staff_hash) FILTER (WHERE s.unit_code <> 'office' AND s.payer = 'centre') AS jobs,
           count(DISTINCT s.staff_hash) FILTER (WHERE s.unit_code <> 'office' AND s.payer = 'centre'
                                                  AND s.origin = 'school_transfer') AS jobs_transfer,
           count(DISTINCT s.staff_hash) FILTER (WHERE s.unit_code <> 'office' AND s.payer = 'centre'
                                                  AND s.origin = 'social_hire') AS jobs_social,
           COALESCE(sum(s.monthly_cost_yuan) FILTER (WHERE s.payer = 'centre' AND s.origin = 'school_transfer'), 0)
               AS saved_transfer,
           COALESCE(sum(s.monthly_cost_yuan) FILTER (WHERE s.payer = 'centre' AND s.role = 'cook'
                                                       AND s.origin <> 'school_transfer'), 0) AS saved_cooks
    FROM staff s GROUP BY s.month
),
month_units AS (       -- the centre units of a month: known by then in ref, or on that month's roster
    SELECT m.month, sc.unit_code FROM months m
    JOIN core.sub_centre sc ON sc.stage_since <= (m.month + interval '1 month' - interval '1 day')::date
    WHERE sc.unit_code <> 'office'
    UNION
    SELECT s.month, s.unit_code FROM staff s WHERE s.unit_code <> 'office'
),
unit_jobs AS (
    SELECT mu.month, mu.unit_code,
           count(DISTINCT s.staff_hash) FILTER (WHERE s.payer = 'centre') AS jobs
    FROM month_units mu
    LEFT JOIN staff s ON s.month = mu.month AND s.unit_code = mu.unit_code
    GROUP BY mu.month, mu.unit_code
),
stage AS (             -- the stage in force on the month's last day
    SELECT DISTINCT ON (m.month, sc.unit_code)
           m.month, sc.unit_code,
           CASE sc.reform_stage WHEN 'big_entity' THEN 1 WHEN 'small_entity' THEN 2 WHEN 'no_entity' THEN 3 END AS stage
    FROM months m
    JOIN core.sub_centre sc ON sc.stage_since <= (m.month + interval '1 month' - interval '1 day')::date
    ORDER BY m.month, sc.unit_code, sc.stage_since DESC
)
SELECT 'admin_norm_headcount', 'campus', n.month, n.admin_norm, NULL::numeric FROM norms n
UNION ALL SELECT 'admin_headcount', 'campus', c.month, c.admin, n.admin_norm
          FROM campus c JOIN norms n USING (month)
UNION ALL SELECT 'admin_posts_saved', 'campus', c.month, n.admin_norm - c.admin, NULL
          FROM campus c JOIN norms n USING (month)
UNION ALL SELECT 'cook_norm_headcount', 'campus', n.month, n.cook_norm, NULL FROM norms n
UNION ALL SELECT 'cooks_borne_by_centre', 'campus', c.month, c.cooks, n.cook_norm
          FROM campus c JOIN norms n USING (month)
UNION ALL SELECT 'jobs_provided', 'campus', c.month, c.jobs, NULL FROM campus c
UNION ALL SELECT 'jobs_provided', u.unit_code, u.month, u.jobs, NULL FROM unit_jobs u
UNION ALL SELECT 'jobs_school_transfer', 'campus', c.month, c.jobs_transfer, NULL FROM campus c
UNION ALL SELECT 'jobs_social_hire', 'campus', c.month, c.jobs_social, NULL FROM campus c
UNION ALL SELECT 'personnel_cost_saved_transfer_yuan', 'campus', c.month, c.saved_transfer, NULL FROM campus c
UNION ALL SELECT 'personnel_cost_saved_cooks_yuan', 'campus', c.month, c.saved_cooks, NULL FROM campus c
UNION ALL SELECT 'personnel_cost_saved_yuan', 'campus', c.month, c.saved_transfer + c.saved_cooks, NULL FROM campus c
UNION ALL SELECT 'reform_stage', s.unit_code, s.month, s.stage, NULL FROM stage s
