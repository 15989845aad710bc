-- core.canteen_txn becomes partitioned by month of txn_date, so a month's load, delete and KPI
-- recompute touch only that month's partition, and old months can be detached or archived whole.
-- A partitioned table's primary key must include the partition key: (txn_id, txn_date). The
-- uniqueness of 流水号 across days stays enforced by the load's audit (collapse_duplicates), which
-- compares every staged id with the ids already in core before publishing.
ALTER TABLE core.canteen_txn RENAME TO canteen_txn_unpartitioned;
ALTER INDEX core.canteen_txn_pkey RENAME TO canteen_txn_unpartitioned_pkey;
ALTER INDEX core.canteen_txn_date_idx RENAME TO canteen_txn_unpartitioned_date_idx;
ALTER INDEX core.canteen_txn_orig_idx RENAME TO canteen_txn_unpartitioned_orig_idx;
ALTER INDEX core.canteen_txn_file_idx RENAME TO canteen_txn_unpartitioned_file_idx;
ALTER INDEX core.canteen_txn_type_orig_idx RENAME TO canteen_txn_unpartitioned_type_orig_idx;

CREATE TABLE core.canteen_txn (
    txn_id       text NOT NULL,
    card_hash    text NOT NULL,
    holder_type  text NOT NULL CHECK (holder_type IN ('student', 'staff', 'other')),
    txn_time     timestamptz NOT NULL,
    txn_date     date NOT NULL,
    outlet_code  text NOT NULL,
    unit_code    text NOT NULL,
    terminal     text,
    amount_yuan  numeric(12, 2) NOT NULL,
    txn_type     text NOT NULL CHECK (txn_type IN ('purchase', 'reversal', 'refund')),
    orig_txn_id  text,
    source_file  text NOT NULL,
    run_id       text,
    PRIMARY KEY (txn_id, txn_date)
) PARTITION BY RANGE (txn_date);
CREATE INDEX canteen_txn_date_idx ON core.canteen_txn (txn_date);
CREATE INDEX canteen_txn_orig_idx ON core.canteen_txn (orig_txn_id, txn_type) WHERE orig_txn_id IS NOT NULL;
CREATE INDEX canteen_txn_file_idx ON core.canteen_txn (source_file);
CREATE INDEX canteen_txn_id_idx ON core.canteen_txn (txn_id);

-- Creates the monthly partitions covering [first, last] that do not exist yet.
CREATE FUNCTION core.ensure_canteen_partitions(first date, last date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', first)::date;
    name text;
BEGIN
    WHILE m <= last LOOP
        name := 'canteen_txn_' || to_char(m, 'YYYYMM');
        IF to_regclass('core.' || name) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('core.canteen_txn partitions'));
            EXECUTE format('CREATE TABLE IF NOT EXISTS core.%I PARTITION OF core.canteen_txn FOR VALUES FROM (%L) TO (%L)',
                           name, m, (m + interval '1 month')::date);
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END
$$;

DO $$
DECLARE lo date; hi date;
BEGIN
    SELECT min(txn_date), max(txn_date) INTO lo, hi FROM core.canteen_txn_unpartitioned;
    IF lo IS NOT NULL THEN
        PERFORM core.ensure_canteen_partitions(lo, hi);
    END IF;
END
$$;
INSERT INTO core.canteen_txn SELECT * FROM core.canteen_txn_unpartitioned;
DROP TABLE core.canteen_txn_unpartitioned;
