-- core.meter_reading (thousands of meters read hourly: the other large fact table) becomes
-- partitioned by month of its local day, like core.canteen_txn. The day is derived from read_at,
-- so the primary key (meter_id, read_at, day) identifies a reading exactly as before.

-- Creates the monthly partitions core.<parent>_YYYYMM covering [first, last] that do not exist yet.
CREATE FUNCTION core.ensure_month_partitions(parent text, first date, last date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', first)::date;
    name text;
BEGIN
    WHILE m <= last LOOP
        name := parent || '_' || to_char(m, 'YYYYMM');
        IF to_regclass('core.' || name) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('core.' || parent || ' partitions'));
            EXECUTE format('CREATE TABLE IF NOT EXISTS core.%I PARTITION OF core.%I FOR VALUES FROM (%L) TO (%L)',
                           name, parent, m, (m + interval '1 month')::date);
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END
$$;

ALTER TABLE core.meter_reading RENAME TO meter_reading_unpartitioned;
ALTER INDEX core.meter_reading_pkey RENAME TO meter_reading_unpartitioned_pkey;
ALTER INDEX core.meter_reading_day_idx RENAME TO meter_reading_unpartitioned_day_idx;
ALTER INDEX core.meter_reading_file_idx RENAME TO meter_reading_unpartitioned_file_idx;

CREATE TABLE core.meter_reading (
    meter_id        text NOT NULL,
    read_at         timestamptz NOT NULL,
    day             date NOT NULL,            -- local (Asia/Shanghai) day of read_at = the file's day
    register        numeric NOT NULL CHECK (register >= 0),  -- raw cumulative register, before multiplier
    status          text NOT NULL CHECK (status IN ('ok', 'estimated', 'replaced')),
    -- for status 'replaced' (first reading of a new meter): the new meter's register at its start,
    -- 0 unless its first reading was itself implausibly large for the time elapsed (then = register)
    start_register  numeric CHECK ((status = 'replaced') = (start_register IS NOT NULL)),
    flags           text[] NOT NULL DEFAULT '{}',
    source_file     text NOT NULL,
    run_id          text,
    PRIMARY KEY (meter_id, read_at, day)
) PARTITION BY RANGE (day);
CREATE INDEX meter_reading_day_idx ON core.meter_reading (day, meter_id, read_at);
CREATE INDEX meter_reading_file_idx ON core.meter_reading (source_file);
COMMENT ON TABLE core.meter_reading IS '表计读数（累计示数）/ meter readings: raw cumulative registers, plausible readings only (partitioned by month)';

DO $$
DECLARE lo date; hi date;
BEGIN
    SELECT min(day), max(day) INTO lo, hi FROM core.meter_reading_unpartitioned;
    IF lo IS NOT NULL THEN
        PERFORM core.ensure_month_partitions('meter_reading', lo, hi);
    END IF;
END
$$;
INSERT INTO core.meter_reading SELECT * FROM core.meter_reading_unpartitioned;
DROP TABLE core.meter_reading_unpartitioned;
