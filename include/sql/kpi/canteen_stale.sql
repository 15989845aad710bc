-- Of the days %(days)s a KPI run covers, the ones whose daily canteen rows must be refreshed: the
-- days marked changed (their marks consumed here, in the refresh's transaction: a mark committed
-- after this statement stays for the next run) and the days stored with another enrolment than
-- ref/enrolment.csv now gives. A day without rows and without a mark never had transactions.
WITH consumed AS (
    DELETE FROM core.canteen_day_change WHERE day = ANY(%(days)s::date[]) RETURNING day
)
SELECT d FROM unnest(%(days)s::date[]) AS d
WHERE d IN (SELECT day FROM consumed)
   OR EXISTS (SELECT 1 FROM mart.canteen_daily c
              LEFT JOIN core.enrolment e ON e.month = date_trunc('month', d)::date
              WHERE c.day = d AND c.unit_code = 'campus' AND c.students IS DISTINCT FROM e.students)
ORDER BY d
