-- Publish a canteen file's audited stage (_stage) into core, inside the file's transaction.
-- Parameters: %(file)s the file's name, %(run_id)s the run (lineage: set here, never staged, so a
-- staged row quarantined as a duplicate conflict is stored whole and a re-run does not change it).

-- result: rows_loaded
SELECT count(*) FROM _stage;

-- result: affected_days
-- the days whose KPIs this file changes: its old and new rows, and the originals they reverse
SELECT DISTINCT d FROM (
    SELECT txn_date AS d FROM core.canteen_txn_key WHERE source_file = %(file)s
    UNION SELECT txn_date FROM _stage
    UNION SELECT o.txn_date FROM core.canteen_txn_key r
          JOIN core.canteen_txn_key o ON o.txn_id = r.orig_txn_id
          WHERE r.source_file = %(file)s AND r.orig_txn_id IS NOT NULL
    UNION SELECT o.txn_date FROM _stage r JOIN core.canteen_txn_key o ON o.txn_id = r.orig_txn_id
          WHERE r.orig_txn_id IS NOT NULL
    -- reversals/refunds other files loaded before their original: they move to its day
    -- (LATERAL … OFFSET 0 keeps these as one probe of the link index per row: without
    -- fresh statistics the planner would scan every link instead)
    UNION SELECT r.d FROM _stage o, LATERAL (SELECT k.txn_date AS d FROM core.canteen_txn_key k
          WHERE k.orig_txn_id = o.txn_id OFFSET 0) r
    UNION SELECT r.d FROM core.canteen_txn_key o, LATERAL (SELECT k.txn_date AS d
          FROM core.canteen_txn_key k WHERE k.orig_txn_id = o.txn_id OFFSET 0) r
          WHERE o.source_file = %(file)s
) x;

DELETE FROM core.canteen_txn WHERE source_file = %(file)s;

DELETE FROM core.canteen_txn_key WHERE source_file = %(file)s;

SELECT core.ensure_canteen_partitions(min(txn_date), max(txn_date)) FROM _stage HAVING count(*) > 0;

INSERT INTO core.canteen_txn (txn_id, card_hash, holder_type, txn_time, txn_date, outlet_code, unit_code,
                              terminal, amount_yuan, txn_type, orig_txn_id, source_file, run_id)
SELECT txn_id, card_hash, holder_type, txn_time, txn_date, outlet_code, unit_code,
       terminal, amount_yuan, txn_type, orig_txn_id, source_file, %(run_id)s
FROM _stage;

INSERT INTO core.canteen_txn_key (txn_id, txn_date, source_file, txn_type, orig_txn_id)
SELECT txn_id, txn_date, source_file, txn_type, orig_txn_id FROM _stage;
