-- Utilities KPIs for one grain (day | month | year) and the period starts in %(periods)s.
-- Consumption comes from core.meter_daily (NULL = unknown: left out, never counted as 0); the
-- meter's utility and payer from ref/meters.csv; the tariff of a day is the one in force that day.
-- At grain 'year' only the reporting rate is needed (annual flows are Σ of the stored months).
-- Rows: kpi_code, unit_code, period_start, value, baseline.
WITH per_day AS (            -- known consumption per day, utility and payer
    SELECT d.day, m.utility, m.payer, sum(d.consumption) AS qty
    FROM core.meter_daily d JOIN core.meter m ON m.meter_id = d.meter_id
    WHERE d.day >= %(lo)s AND d.day < %(hi)s AND d.consumption IS NOT NULL AND %(grain)s <> 'year'
    GROUP BY d.day, m.utility, m.payer
),
priced AS (                  -- × the tariff in force that day (NULL when none is)
    SELECT p.*, date_trunc(%(grain)s, p.day)::date AS period_start, p.qty * t.yuan_per_unit AS yuan
    FROM per_day p
    LEFT JOIN LATERAL (SELECT t.yuan_per_unit FROM core.tariff t
                       WHERE t.utility = p.utility AND t.effective_from <= p.day
                       ORDER BY t.effective_from DESC LIMIT 1) t ON true
),
consumption AS (             -- per period, utility and payer ('school', a unit code or 'tenant')
    SELECT period_start, utility, payer, sum(qty) AS qty,
           CASE WHEN bool_or(yuan IS NULL) THEN NULL ELSE sum(yuan) END AS yuan
    FROM priced WHERE period_start = ANY(%(periods)s)
    GROUP BY period_start, utility, payer
),
school AS (
    SELECT c.period_start, c.utility, c.qty, b.quantity AS baseline_qty
    FROM consumption c
    LEFT JOIN core.utility_baseline b
           ON b.utility = c.utility AND b.month_of_year = extract(month FROM c.period_start)
    WHERE c.payer = 'school'
),
billed AS (                  -- per paying unit, and campus
    SELECT period_start, utility, COALESCE(payer, 'campus') AS unit_code, sum(qty) AS qty
    FROM consumption WHERE payer <> 'school'
    GROUP BY GROUPING SETS ((period_start, utility, payer), (period_start, utility))
),
recovered AS (               -- Σ billed consumption × that day's tariff, per paying unit, and campus
    SELECT period_start, COALESCE(payer, 'campus') AS unit_code,
           CASE WHEN bool_or(yuan IS NULL) THEN NULL ELSE sum(yuan) END AS yuan
    FROM consumption WHERE payer <> 'school'
    GROUP BY GROUPING SETS ((period_start, payer), (period_start))
),
conservation AS (            -- monthly: Σ utilities (baseline − school-paid) × tariff of the 1st
    SELECT s.period_start,
           CASE WHEN bool_or(t.yuan_per_unit IS NULL) THEN NULL
                ELSE sum((s.baseline_qty - s.qty) * t.yuan_per_unit) END AS saved,
           CASE WHEN bool_or(t.yuan_per_unit IS NULL) THEN NULL
                ELSE round(sum(s.baseline_qty * t.yuan_per_unit), 2) END AS baseline_yuan
    FROM school s
    LEFT JOIN LATERAL (SELECT t.yuan_per_unit FROM core.tariff t
                       WHERE t.utility = s.utility AND t.effective_from <= s.period_start
                       ORDER BY t.effective_from DESC LIMIT 1) t ON true
    WHERE %(grain)s = 'month' AND s.baseline_qty IS NOT NULL
    GROUP BY s.period_start
),
adjusted AS (               -- monthly: school-paid consumption beside the adjusted baselines
    SELECT s.period_start, s.utility, s.qty, a.per_student_qty, a.weather_qty, t.yuan_per_unit
    FROM school s
    JOIN mart.utility_baseline_adjusted a ON a.month = s.period_start AND a.utility = s.utility
    LEFT JOIN LATERAL (SELECT t.yuan_per_unit FROM core.tariff t
                       WHERE t.utility = s.utility AND t.effective_from <= s.period_start
                       ORDER BY t.effective_from DESC LIMIT 1) t ON true
    WHERE %(grain)s = 'month' AND s.baseline_qty IS NOT NULL
),
normalised AS (              -- as conservation, against the per-student and the weather baseline
    SELECT period_start, 'utilities_conservation_saved_per_student_yuan' AS kpi_code,
           CASE WHEN bool_or(yuan_per_unit IS NULL OR per_student_qty IS NULL) THEN NULL
                ELSE sum((per_student_qty - qty) * yuan_per_unit) END AS saved,
           CASE WHEN bool_or(yuan_per_unit IS NULL OR per_student_qty IS NULL) THEN NULL
                ELSE round(sum(per_student_qty * yuan_per_unit), 2) END AS baseline_yuan
    FROM adjusted GROUP BY period_start
    UNION ALL
    SELECT period_start, 'utilities_conservation_saved_weather_yuan',
           CASE WHEN bool_or(yuan_per_unit IS NULL OR weather_qty IS NULL) THEN NULL
                ELSE sum((weather_qty - qty) * yuan_per_unit) END,
           CASE WHEN bool_or(yuan_per_unit IS NULL OR weather_qty IS NULL) THEN NULL
                ELSE round(sum(weather_qty * yuan_per_unit), 2) END
    FROM adjusted GROUP BY period_start
),
total AS (
    SELECT COALESCE(c.period_start, r.period_start) AS period_start,
           COALESCE(round(c.saved, 2), 0) + COALESCE(round(r.yuan, 2), 0) AS yuan   -- = the stored parts' sum
    FROM conservation c
    FULL JOIN (SELECT * FROM recovered WHERE unit_code = 'campus' AND %(grain)s = 'month') r
           ON r.period_start = c.period_start
    WHERE c.saved IS NOT NULL OR r.yuan IS NOT NULL
),
loaded_days AS (             -- days whose meters file is loaded
    SELECT f.day, date_trunc(%(grain)s, f.day)::date AS period_start
    FROM core.meter_file f WHERE f.day >= %(lo)s AND f.day < %(hi)s
),
reported AS (                -- meters of ref/meters.csv with a plausible reading, per day
    SELECT d.day, count(*) AS meters
    FROM core.meter_daily d JOIN core.meter m ON m.meter_id = d.meter_id
    WHERE d.day >= %(lo)s AND d.day < %(hi)s AND d.readings > 0
    GROUP BY d.day
),
reporting AS (               -- Σ reporting meter-days ÷ (meters × loaded days)
    SELECT l.period_start,
           sum(COALESCE(r.meters, 0))::numeric / NULLIF((SELECT count(*) FROM core.meter) * count(*), 0) AS rate
    FROM loaded_days l LEFT JOIN reported r ON r.day = l.day
    WHERE l.period_start = ANY(%(periods)s)
    GROUP BY l.period_start
)
SELECT CASE utility WHEN 'electricity' THEN 'electricity_kwh_school' ELSE 'water_m3_school' END,
       'campus', period_start, qty, CASE WHEN %(grain)s = 'month' THEN baseline_qty END
FROM school
UNION ALL
SELECT CASE utility WHEN 'electricity' THEN 'electricity_kwh_billed' ELSE 'water_m3_billed' END,
       unit_code, period_start, qty, NULL
FROM billed
UNION ALL
SELECT 'utilities_recovered_yuan', unit_code, period_start, yuan, NULL FROM recovered WHERE yuan IS NOT NULL
UNION ALL
SELECT 'utilities_conservation_saved_yuan', 'campus', period_start, saved, baseline_yuan
FROM conservation WHERE saved IS NOT NULL
UNION ALL
SELECT kpi_code, 'campus', period_start, saved, baseline_yuan FROM normalised WHERE saved IS NOT NULL
UNION ALL
SELECT 'utilities_saved_total_yuan', 'campus', period_start, yuan, NULL FROM total
UNION ALL
SELECT 'meters_reporting_rate', 'campus', period_start, rate, NULL FROM reporting WHERE rate IS NOT NULL
