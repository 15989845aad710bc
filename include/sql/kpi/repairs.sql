-- Repair and service KPIs for one grain (month | year) and the period starts in %(periods)s,
-- per responsible unit and 'campus', from the tickets' current state (core.work_order).
-- Orders count in the period (Asia/Shanghai) of their completion: current status completed/closed
-- with a completed_at; cancelled orders count nowhere. An order without arrived_at is not on time
-- for response; an order whose category has no SLA is left out of both on-time rates.
-- work_orders_open (a stock at the month's end) and the monthly counts are only computed at grain
-- 'month': their annual rows are rolled up from the months.
-- Rows: kpi_code, unit_code, period_start, value, baseline.
WITH p AS (
    SELECT ps AS period_start,
           ps::timestamp AT TIME ZONE 'Asia/Shanghai' AS t0,
           (ps + CASE WHEN %(grain)s = 'year' THEN interval '1 year' ELSE interval '1 month' END)
               AT TIME ZONE 'Asia/Shanghai' AS t1
    FROM unnest(%(periods)s::date[]) AS ps
),
done AS (                  -- orders completed in each period, with their SLA checks
    SELECT p.period_start, w.unit_code, w.reopened, w.rating,
           s.category IS NOT NULL AS has_sla,
           COALESCE(w.arrived_at IS NOT NULL
                    AND extract(epoch FROM w.arrived_at - w.created_at) <= s.respond_within_min * 60, false) AS resp_ok,
           COALESCE(extract(epoch FROM w.completed_at - w.created_at) <= s.complete_within_h * 3600, false) AS repair_ok
    FROM core.work_order w
    JOIN p ON w.completed_at >= p.t0 AND w.completed_at < p.t1
    LEFT JOIN core.sla s ON s.category = w.category
    WHERE w.status IN ('completed', 'closed') AND w.completed_at IS NOT NULL
      AND w.completed_at >= (%(lo)s::date)::timestamp AT TIME ZONE 'Asia/Shanghai'
      AND w.completed_at < (%(hi)s::date)::timestamp AT TIME ZONE 'Asia/Shanghai'
),
agg AS (
    SELECT period_start, COALESCE(unit_code, 'campus') AS unit_code,
           count(*) AS completed,
           count(*) FILTER (WHERE has_sla AND resp_ok)::numeric / NULLIF(count(*) FILTER (WHERE has_sla), 0) AS resp_rate,
           count(*) FILTER (WHERE has_sla AND repair_ok)::numeric / NULLIF(count(*) FILTER (WHERE has_sla), 0) AS repair_rate,
           1 - count(*) FILTER (WHERE reopened)::numeric / count(*) AS ftf_rate,
           avg(rating) AS rating_avg
    FROM done
    GROUP BY GROUPING SETS ((period_start, unit_code), (period_start))
),
units AS (                 -- units with a non-cancelled ticket created before the month's end
    SELECT p.period_start, u.unit_code
    FROM p JOIN (SELECT unit_code, min(created_at) AS first_created FROM core.work_order
                 WHERE status <> 'cancelled' GROUP BY unit_code) u ON u.first_created < p.t1
    WHERE %(grain)s = 'month'
),
open_at_end AS (           -- created before the month's end, not completed before it, not cancelled
    SELECT p.period_start, w.unit_code, count(*) AS n
    FROM p JOIN core.work_order w
      ON w.created_at < p.t1
     AND NOT (w.status IN ('completed', 'closed') AND w.completed_at IS NOT NULL AND w.completed_at < p.t1)
    WHERE w.status <> 'cancelled' AND %(grain)s = 'month'
    GROUP BY p.period_start, w.unit_code
),
counts AS (
    SELECT u.period_start, COALESCE(u.unit_code, 'campus') AS unit_code,
           sum(COALESCE(o.n, 0)) AS open_n, sum(COALESCE(a.completed, 0)) AS completed
    FROM units u
    LEFT JOIN open_at_end o ON o.period_start = u.period_start AND o.unit_code = u.unit_code
    LEFT JOIN agg a ON a.period_start = u.period_start AND a.unit_code = u.unit_code
    GROUP BY GROUPING SETS ((u.period_start, u.unit_code), (u.period_start))
)
SELECT 'work_orders_completed', unit_code, period_start, completed, NULL::numeric FROM counts
UNION ALL SELECT 'work_orders_open', unit_code, period_start, open_n, NULL FROM counts
UNION ALL SELECT 'response_on_time_rate', unit_code, period_start, resp_rate, NULL FROM agg
UNION ALL SELECT 'repair_on_time_rate', unit_code, period_start, repair_rate, NULL FROM agg
UNION ALL SELECT 'first_time_fix_rate', unit_code, period_start, ftf_rate, NULL FROM agg
UNION ALL SELECT 'repair_rating_avg', unit_code, period_start, rating_avg, NULL FROM agg
