-- mart.canteen_daily and mart.canteen_outlet_meal for the touched days %(days)s (their old rows
-- deleted first), in one statement from one read of the canteen rows.
--
-- Each row counts on its *effective* day/unit/outlet/meal: reversals and refunds on their original
-- purchase's; `kept` = a purchase not reversed. Rows without an orig_txn_id (the purchases) are
-- their own effective row, read straight from their partitions; only the rows with one (reversals,
-- refunds) are joined to their original through core.canteen_txn_key (unpartitioned, one row per
-- id: asked of the partitioned core.canteen_txn, each link cost one index probe per partition).
-- Meal periods by the original purchase's local time: breakfast < 10:00, lunch 10–14, dinner
-- 14–20, night ≥ 20; compared with the day's boundary instants (a time outside its day's local
-- bounds falls back to its own local hour).
--
-- Money and purchases are summed per day, unit, outlet and meal (a few thousand groups), then per
-- unit and per day from those sums. Distinct diners are counted by grouping, never by sorting every
-- row per count: `fine` has one row per day, unit, outlet, meal and card with a kept purchase; the
-- outlet × meal rows count its rows, the daily rows group it per card again (per unit, then per day
-- for campus).
WITH bounds AS MATERIALIZED (   -- one row per day: its boundary instants, computed once
    SELECT d AS day, d::timestamp AT TIME ZONE 'Asia/Shanghai' AS t0,
           (d + time '10:00') AT TIME ZONE 'Asia/Shanghai' AS t10,
           (d + time '14:00') AT TIME ZONE 'Asia/Shanghai' AS t14,
           (d + time '20:00') AT TIME ZONE 'Asia/Shanghai' AS t20,
           (d + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' AS t24
    FROM unnest(%(days)s::date[]) AS d
),
reversed AS (
    SELECT DISTINCT orig_txn_id AS txn_id FROM core.canteen_txn_key
    WHERE orig_txn_id IS NOT NULL AND txn_type = 'reversal'
),
linked AS (            -- rows with an original: on the touched days, or on other days for originals on them
    SELECT t.txn_id, t.txn_type, t.orig_txn_id, t.amount_yuan, t.card_hash, t.holder_type,
           t.txn_date, t.txn_time, t.unit_code, t.outlet_code
    FROM core.canteen_txn t WHERE t.txn_date = ANY(%(days)s) AND t.orig_txn_id IS NOT NULL
    UNION ALL
    SELECT r.txn_id, r.txn_type, r.orig_txn_id, r.amount_yuan, r.card_hash, r.holder_type,
           r.txn_date, r.txn_time, r.unit_code, r.outlet_code
    FROM core.canteen_txn_key rk
    JOIN core.canteen_txn_key ok ON ok.txn_id = rk.orig_txn_id
    JOIN core.canteen_txn r ON r.txn_id = rk.txn_id AND r.txn_date = rk.txn_date
    WHERE rk.orig_txn_id IS NOT NULL AND ok.txn_date = ANY(%(days)s) AND NOT (rk.txn_date = ANY(%(days)s))
),
eff AS (
    SELECT t.txn_date AS day, t.unit_code, t.outlet_code, t.txn_time AS at, t.card_hash, t.holder_type,
           t.amount_yuan, t.txn_type = 'purchase' AND rv.txn_id IS NULL AS kept
    FROM core.canteen_txn t
    LEFT JOIN reversed rv ON rv.txn_id = t.txn_id
    WHERE t.txn_date = ANY(%(days)s) AND t.orig_txn_id IS NULL
    UNION ALL
    SELECT COALESCE(o.txn_date, t.txn_date), COALESCE(o.unit_code, t.unit_code), COALESCE(o.outlet_code, t.outlet_code),
           COALESCE(o.txn_time, t.txn_time), t.card_hash, t.holder_type,
           t.amount_yuan, t.txn_type = 'purchase' AND rv.txn_id IS NULL
    FROM linked t
    LEFT JOIN reversed rv ON rv.txn_id = t.txn_id
    LEFT JOIN core.canteen_txn_key ok ON t.txn_type <> 'purchase' AND ok.txn_id = t.orig_txn_id
    LEFT JOIN core.canteen_txn o ON o.txn_id = ok.txn_id AND o.txn_date = ok.txn_date
),
rows AS MATERIALIZED (  -- the effective rows, narrow
    SELECT e.day, e.unit_code, e.outlet_code,
           CASE WHEN e.at >= b.t0 AND e.at < b.t24
                THEN CASE WHEN e.at < b.t10 THEN 0 WHEN e.at < b.t14 THEN 1 WHEN e.at < b.t20 THEN 2 ELSE 3 END
                ELSE ('{0,0,0,0,0,0,0,0,0,0,1,1,1,1,2,2,2,2,2,2,3,3,3,3}'::integer[])
                         [extract(hour FROM e.at AT TIME ZONE 'Asia/Shanghai')::integer + 1] END AS meal,
           e.card_hash, e.holder_type = 'student' AS student, e.amount_yuan, e.kept
    FROM eff e JOIN bounds b ON b.day = e.day
),
sums AS MATERIALIZED (  -- money and purchases per day, unit, outlet and meal: a few thousand groups
    SELECT day, unit_code, outlet_code, meal, sum(amount_yuan) AS revenue,
           count(*) FILTER (WHERE kept) AS transactions
    FROM rows GROUP BY day, unit_code, outlet_code, meal
),
fine AS MATERIALIZED (  -- one row per day, unit, outlet, meal and card with a kept purchase
    SELECT day, unit_code, outlet_code, meal, card_hash, bool_or(student) AS student
    FROM rows WHERE kept GROUP BY day, unit_code, outlet_code, meal, card_hash
),
outlet_meal AS (
    INSERT INTO mart.canteen_outlet_meal (day, unit_code, outlet_code, meal_period, revenue_yuan, transactions,
                                          diners, computed_at, run_id)
    SELECT s.day, s.unit_code, s.outlet_code, (ARRAY['breakfast', 'lunch', 'dinner', 'night'])[s.meal + 1],
           s.revenue, s.transactions, COALESCE(f.diners, 0), now(), %(run_id)s
    FROM sums s
    LEFT JOIN (SELECT day, unit_code, outlet_code, meal, count(*) AS diners FROM fine
               GROUP BY day, unit_code, outlet_code, meal) f
           ON f.day = s.day AND f.unit_code = s.unit_code AND f.outlet_code = s.outlet_code AND f.meal = s.meal
    RETURNING 1
),
per_card AS MATERIALIZED (    -- one row per day, unit and card with a kept purchase
    SELECT day, unit_code, card_hash, bool_or(student) AS student FROM fine GROUP BY day, unit_code, card_hash
),
per_day AS (
    SELECT s.day, s.unit_code, s.revenue, s.transactions, COALESCE(c.diners, 0) AS diners,
           COALESCE(c.student_diners, 0) AS student_diners
    FROM (SELECT day, unit_code, sum(revenue) AS revenue, sum(transactions) AS transactions FROM sums
          GROUP BY day, unit_code) s
    LEFT JOIN (SELECT day, unit_code, count(*) AS diners, count(*) FILTER (WHERE student) AS student_diners
               FROM per_card GROUP BY day, unit_code) c ON c.day = s.day AND c.unit_code = s.unit_code
    UNION ALL
    SELECT s.day, 'campus', s.revenue, s.transactions, COALESCE(c.diners, 0), COALESCE(c.student_diners, 0)
    FROM (SELECT day, sum(revenue) AS revenue, sum(transactions) AS transactions FROM sums GROUP BY day) s
    LEFT JOIN (SELECT day, count(*) AS diners, count(*) FILTER (WHERE student) AS student_diners
               FROM (SELECT day, card_hash, bool_or(student) AS student FROM per_card GROUP BY day, card_hash) x
               GROUP BY day) c ON c.day = s.day
),
daily AS (
    INSERT INTO mart.canteen_daily (day, unit_code, revenue_yuan, transactions, diners, student_diners, students,
                                    computed_at, run_id)
    SELECT d.day, d.unit_code, d.revenue, d.transactions, d.diners, d.student_diners, e.students, now(), %(run_id)s
    FROM per_day d LEFT JOIN core.enrolment e ON e.month = date_trunc('month', d.day)::date
    RETURNING 1
)
SELECT (SELECT count(*) FROM daily) + (SELECT count(*) FROM outlet_meal)
