-- The touched days' canteen rows, each on its effective day/unit/outlet/meal: reversals and refunds
-- on their original purchase's; `kept` = a purchase not reversed. Fills the temp table _canteen_eff
-- (rows whose effective day is not a touched day are dropped by the caller).
-- Links between rows go through core.canteen_txn_key (unpartitioned, one row per id): asked of the
-- partitioned core.canteen_txn, each link cost one index probe per monthly partition.
CREATE TEMP TABLE _canteen_eff ON COMMIT DROP AS
WITH touched AS (
    SELECT t.txn_id, t.txn_type, t.orig_txn_id, t.amount_yuan, t.card_hash, t.holder_type,
           t.txn_date, t.txn_time, t.unit_code, t.outlet_code
    FROM core.canteen_txn t WHERE t.txn_date = ANY(%(days)s)
    UNION ALL
    -- reversals/refunds on other days of originals on the touched days
    SELECT r.txn_id, r.txn_type, r.orig_txn_id, r.amount_yuan, r.card_hash, r.holder_type,
           r.txn_date, r.txn_time, r.unit_code, r.outlet_code
    FROM core.canteen_txn_key rk
    JOIN core.canteen_txn_key ok ON ok.txn_id = rk.orig_txn_id
    JOIN core.canteen_txn r ON r.txn_id = rk.txn_id AND r.txn_date = rk.txn_date
    WHERE rk.orig_txn_id IS NOT NULL AND ok.txn_date = ANY(%(days)s) AND NOT (rk.txn_date = ANY(%(days)s))
),
reversed AS (
    SELECT DISTINCT orig_txn_id AS txn_id FROM core.canteen_txn_key
    WHERE orig_txn_id IS NOT NULL AND txn_type = 'reversal'
)
SELECT t.txn_id, t.txn_type, t.amount_yuan, t.card_hash, t.holder_type,
       COALESCE(o.txn_date, t.txn_date) AS day,
       COALESCE(o.unit_code, t.unit_code) AS unit_code,
       COALESCE(o.outlet_code, t.outlet_code) AS outlet_code,
       extract(hour FROM COALESCE(o.txn_time, t.txn_time) AT TIME ZONE 'Asia/Shanghai') AS hour,
       t.txn_type = 'purchase' AND rv.txn_id IS NULL AS kept
FROM touched t
LEFT JOIN reversed rv ON rv.txn_id = t.txn_id
LEFT JOIN core.canteen_txn_key ok ON t.txn_type <> 'purchase' AND ok.txn_id = t.orig_txn_id
LEFT JOIN core.canteen_txn o ON o.txn_id = ok.txn_id AND o.txn_date = ok.txn_date
