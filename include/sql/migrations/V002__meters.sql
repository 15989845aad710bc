-- Meter readings (meters/meters_YYYYMMDD.csv) and the daily consumption derived from them.

-- Which day files are loaded, and the previous-day readings each was judged against.
CREATE TABLE core.meter_file (
    source_file    text PRIMARY KEY,
    day            date NOT NULL UNIQUE,
    -- where the previous day's last readings came from when this file was loaded:
    -- 'warehouse' (that day was loaded), 'landing_file' (read from its file, not loaded) or 'none'
    anchor_source  text NOT NULL CHECK (anchor_source IN ('warehouse', 'landing_file', 'none')),
    -- digest of those previous-day last readings (meter, time, register): when loading the
    -- previous day yields different last readings, this file is re-judged against them
    anchor_digest  text NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    run_id         text
);
COMMENT ON TABLE core.meter_file IS '已加载的表计读数日文件 / meter day files loaded, with the previous-day readings they were checked against';

-- One row per plausible reading (quarantined readings are in quality.rejected_rows).
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
    PRIMARY KEY (meter_id, read_at)
);
CREATE INDEX meter_reading_day_idx ON core.meter_reading (day, meter_id, read_at);
CREATE INDEX meter_reading_file_idx ON core.meter_reading (source_file);
COMMENT ON TABLE core.meter_reading IS '表计读数（累计示数）/ meter readings: raw cumulative registers, plausible readings only';

-- Consumption per meter and day: (register at the day's last reading − register at the previous
-- day's last reading) × multiplier; across a 'replaced' reading the old meter's delta plus the new
-- meter's register since its start. NULL = unknown (no previous-day reading), never 0.
CREATE TABLE core.meter_daily (
    meter_id         text NOT NULL,
    day              date NOT NULL,
    readings         integer NOT NULL,
    first_read_at    timestamptz NOT NULL,
    last_read_at     timestamptz NOT NULL,
    last_register    numeric NOT NULL,
    prev_read_at     timestamptz,             -- the previous day's last reading (NULL: none known)
    prev_register    numeric,
    prev_source      text CHECK (prev_source IN ('warehouse', 'landing_file')),
    multiplier       numeric NOT NULL,
    raw_consumption  numeric,                 -- register units
    consumption      numeric,                 -- kWh or m3 (raw × multiplier); NULL = unknown
    estimated        boolean NOT NULL,        -- an estimated reading (of the day, or the previous day's last) is involved
    replaced         boolean NOT NULL,        -- the meter was replaced that day
    rate_median      double precision,        -- median positive register increase per hour that day (plausibility normal)
    rate_samples     integer NOT NULL,
    source_file      text NOT NULL,
    run_id           text,
    PRIMARY KEY (meter_id, day),
    CHECK (consumption IS NULL OR consumption >= 0)
);
CREATE INDEX meter_daily_day_idx ON core.meter_daily (day);
COMMENT ON TABLE core.meter_daily IS '表计日用量 / daily consumption per meter (NULL = unknown, never 0)';
