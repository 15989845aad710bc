-- Satisfaction KPIs for one grain and the period starts in %(periods)s: grain 'day' = survey waves
-- (period_start = wave date), grain 'year' = all waves of the year, recomputed over all their
-- answered cells. Per unit column and 'campus' (all answered cells of all columns).
-- satisfaction_rate = (非常满意 + 满意) ÷ answered cells; absent when nothing was answered.
-- Rows: kpi_code, unit_code, period_start, value, baseline.
WITH a AS (
    SELECT CASE WHEN %(grain)s = 'year' THEN date_trunc('year', wave_date)::date ELSE wave_date END AS period_start,
           unit_code, answer
    FROM core.survey_answer
    WHERE wave_date >= %(lo)s AND wave_date < %(hi)s
),
agg AS (
    SELECT period_start, COALESCE(unit_code, 'campus') AS unit_code,
           count(answer) AS answered,
           count(*) FILTER (WHERE answer IN ('非常满意', '满意')) AS satisfied
    FROM a
    WHERE period_start = ANY(%(periods)s)
    GROUP BY GROUPING SETS ((period_start, unit_code), (period_start))
)
SELECT 'satisfaction_rate', unit_code, period_start, satisfied::numeric / NULLIF(answered, 0), NULL::numeric FROM agg
UNION ALL SELECT 'satisfaction_responses', unit_code, period_start, answered, NULL FROM agg
