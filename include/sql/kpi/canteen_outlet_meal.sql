-- Drill-down for mart.canteen_outlet_meal: per day, outlet and meal period, for the days in %(days)s.
-- Meal periods by the original purchase's time: breakfast < 10:00, lunch 10–14, dinner 14–20, night ≥ 20.
WITH touched AS (
    SELECT t.* FROM core.canteen_txn t WHERE t.txn_date = ANY(%(days)s)
    UNION
    SELECT r.* FROM core.canteen_txn r JOIN core.canteen_txn o ON o.txn_id = r.orig_txn_id
    WHERE r.orig_txn_id IS NOT NULL AND o.txn_date = ANY(%(days)s)
),
eff AS (
    SELECT t.txn_id, t.txn_type, t.amount_yuan, t.card_hash,
           COALESCE(o.txn_date, t.txn_date) AS day,
           COALESCE(o.unit_code, t.unit_code) AS unit_code,
           COALESCE(o.outlet_code, t.outlet_code) AS outlet_code,
           extract(hour FROM COALESCE(o.txn_time, t.txn_time) AT TIME ZONE 'Asia/Shanghai') AS hour
    FROM touched t LEFT JOIN core.canteen_txn o ON t.txn_type <> 'purchase' AND o.txn_id = t.orig_txn_id
),
labelled AS (
    SELECT e.*, CASE WHEN hour < 10 THEN 'breakfast' WHEN hour < 14 THEN 'lunch'
                     WHEN hour < 20 THEN 'dinner' ELSE 'night' END AS meal_period,
           e.txn_type = 'purchase' AND NOT EXISTS (
               SELECT 1 FROM core.canteen_txn r WHERE r.txn_type = 'reversal' AND r.orig_txn_id = e.txn_id) AS kept
    FROM eff e WHERE e.day = ANY(%(days)s)
)
SELECT day, unit_code, outlet_code, meal_period,
       sum(amount_yuan) AS revenue_yuan,
       count(*) FILTER (WHERE kept) AS transactions,
       count(DISTINCT card_hash) FILTER (WHERE kept) AS diners
FROM labelled GROUP BY day, unit_code, outlet_code, meal_period
