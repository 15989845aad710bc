-- The touched days' canteen rows, each on its effective day/unit/outlet/meal: reversals and refunds
-- on their original purchase's; `kept` = a purchase not reversed. Fills the temp table _canteen_eff
-- (rows whose effective day is not a touched day are dropped by the caller).
CREATE TEMP TABLE _canteen_eff ON COMMIT DROP AS
WITH touched AS (
    SELECT t.txn_id, t.txn_type, t.orig_txn_id, t.amount_yuan, t.card_hash, t.holder_type,
           t.txn_date, t.txn_time, t.unit_code, t.outlet_code
    FROM core.canteen_txn t WHERE t.txn_date = ANY(%(days)s)
    UNION
    SELECT r.txn_id, r.txn_type, r.orig_txn_id, r.amount_yuan, r.card_hash, r.holder_type,
           r.txn_date, r.txn_time, r.unit_code, r.outlet_code
    FROM core.canteen_txn o JOIN core.canteen_txn r ON r.orig_txn_id = o.txn_id
    WHERE o.txn_date = ANY(%(days)s)
)
SELECT t.txn_id, t.txn_type, t.amount_yuan, t.card_hash, t.holder_type,
       COALESCE(o.txn_date, t.txn_date) AS day,
       COALESCE(o.unit_code, t.unit_code) AS unit_code,
       COALESCE(o.outlet_code, t.outlet_code) AS outlet_code,
       extract(hour FROM COALESCE(o.txn_time, t.txn_time) AT TIME ZONE 'Asia/Shanghai') AS hour,
       t.txn_type = 'purchase' AND NOT EXISTS (
           SELECT 1 FROM core.canteen_txn r
           WHERE r.orig_txn_id = t.txn_id AND r.txn_type = 'reversal') AS kept
FROM touched t
LEFT JOIN core.canteen_txn o ON t.txn_type <> 'purchase' AND o.txn_id = t.orig_txn_id
