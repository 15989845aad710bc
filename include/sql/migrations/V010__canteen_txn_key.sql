-- core.canteen_txn_key: one row per loaded 流水号, unpartitioned.
-- 流水号 is unique across all days, but the partitioned core.canteen_txn can only index it per
-- month, so every "is this id already loaded?" and "which day is this original on?" question
-- probed every monthly partition once per staged row: a load got slower with every month in the
-- warehouse (a late-year seed file paid ~12 index probes per row). This table answers both with one
-- probe, and carries the reversal/refund links so a load finds the days it affects, and a KPI
-- recompute the purchases reversed, without probing every partition. The load maintains it in the
-- same transaction as core.
CREATE TABLE core.canteen_txn_key (
    txn_id       text PRIMARY KEY,
    txn_date     date NOT NULL,
    source_file  text NOT NULL,
    txn_type     text NOT NULL,
    orig_txn_id  text
);
CREATE INDEX canteen_txn_key_file_idx ON core.canteen_txn_key (source_file);
CREATE INDEX canteen_txn_key_orig_idx ON core.canteen_txn_key (orig_txn_id) WHERE orig_txn_id IS NOT NULL;
INSERT INTO core.canteen_txn_key (txn_id, txn_date, source_file, txn_type, orig_txn_id)
SELECT txn_id, txn_date, source_file, txn_type, orig_txn_id FROM core.canteen_txn;

-- The primary key (txn_id, txn_date) already serves lookups by txn_id (its leading column), and the
-- key table now answers them in one probe: the separate txn_id index only cost time on every load.
DROP INDEX IF EXISTS core.canteen_txn_id_idx;
