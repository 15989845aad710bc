-- The warehouse's layers, the quality tables, the KPI tables and the read-only finance role.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS quality;
CREATE SCHEMA IF NOT EXISTS mart;

-- Reference data (ref/). Tables whose source carries history keep it in their key.
CREATE TABLE core.sub_centre (
    unit_code     text NOT NULL,
    name_zh       text NOT NULL,
    name_en       text NOT NULL,
    reform_stage  text NOT NULL CHECK (reform_stage IN ('big_entity', 'small_entity', 'no_entity')),
    stage_since   date NOT NULL,
    PRIMARY KEY (unit_code, stage_since)
);
CREATE TABLE core.outlet (
    outlet_name  text PRIMARY KEY,
    outlet_code  text NOT NULL UNIQUE,
    unit_code    text NOT NULL,
    operator     text NOT NULL CHECK (operator IN ('centre', 'tenant'))
);
CREATE TABLE core.meter (
    meter_id       text PRIMARY KEY,
    utility        text NOT NULL CHECK (utility IN ('electricity', 'water')),
    building_code  text NOT NULL,
    building_type  text,
    payer          text NOT NULL,
    multiplier     numeric NOT NULL CHECK (multiplier >= 1)
);
CREATE TABLE core.tariff (
    utility         text NOT NULL,
    effective_from  date NOT NULL,
    yuan_per_unit   numeric(12, 4) NOT NULL,
    PRIMARY KEY (utility, effective_from)
);
CREATE TABLE core.enrolment (
    month     date PRIMARY KEY,
    students  integer NOT NULL CHECK (students >= 0)
);
CREATE TABLE core.baseline (
    key    text PRIMARY KEY,
    value  numeric NOT NULL,
    note   text
);
CREATE TABLE core.utility_baseline (
    utility        text NOT NULL,
    month_of_year  smallint NOT NULL CHECK (month_of_year BETWEEN 1 AND 12),
    quantity       numeric NOT NULL,
    PRIMARY KEY (utility, month_of_year)
);
CREATE TABLE core.sla (
    category            text PRIMARY KEY,
    respond_within_min  integer NOT NULL,
    complete_within_h   numeric NOT NULL
);
CREATE TABLE core.target (
    kpi_code   text NOT NULL,
    unit_code  text NOT NULL,
    bound      text NOT NULL CHECK (bound IN ('min', 'max')),
    value      numeric NOT NULL,
    PRIMARY KEY (kpi_code, unit_code, bound)
);
-- Which version of each ref file is loaded (reloaded when the checksum changes).
CREATE TABLE core.ref_file (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    rows       integer NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    run_id     text
);

-- Campus-card POS transactions, one row per 流水号. Card numbers are HMAC pseudonyms.
CREATE TABLE core.canteen_txn (
    txn_id       text PRIMARY KEY,
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
    run_id       text
);
CREATE INDEX canteen_txn_date_idx ON core.canteen_txn (txn_date);
CREATE INDEX canteen_txn_orig_idx ON core.canteen_txn (orig_txn_id) WHERE orig_txn_id IS NOT NULL;
CREATE INDEX canteen_txn_file_idx ON core.canteen_txn (source_file);

-- Data quality: what was rejected and why, and every file's reconciliation.
CREATE TABLE quality.rejected_rows (
    id           bigserial PRIMARY KEY,
    feed         text NOT NULL,
    file         text NOT NULL,
    row_number   integer NOT NULL,
    rule         text NOT NULL,
    record       jsonb NOT NULL,
    run_id       text,
    rejected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_rows_file_idx ON quality.rejected_rows (feed, file);

-- The current reconciliation of each file: rows_read = loaded + quarantined + duplicates.
CREATE TABLE quality.file_reconciliation (
    feed              text NOT NULL,
    file              text NOT NULL,
    rows_read         bigint NOT NULL,
    rows_loaded       bigint NOT NULL,
    rows_quarantined  bigint NOT NULL,
    rows_duplicate    bigint NOT NULL,
    checksum          text NOT NULL,
    run_id            text,
    reconciled_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (feed, file),
    CHECK (rows_read = rows_loaded + rows_quarantined + rows_duplicate)
);
-- Every run's reconciliation of every file it read, kept as an audit trail.
CREATE TABLE quality.file_reconciliation_history (LIKE quality.file_reconciliation INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE quality.file_reconciliation_history ADD PRIMARY KEY (feed, file, run_id, reconciled_at);

-- Great Expectations results per file (the latest validation).
CREATE TABLE quality.validation_result (
    feed          text NOT NULL,
    file          text NOT NULL,
    suite         text NOT NULL,
    success       boolean NOT NULL,
    statistics    jsonb NOT NULL,
    failed_rules  jsonb NOT NULL,
    run_id        text,
    validated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (feed, file)
);

-- The one table every KPI lands in, and the catalog that defines them.
CREATE TABLE mart.kpi_value (
    kpi_code      text NOT NULL,
    unit_code     text NOT NULL,
    grain         text NOT NULL CHECK (grain IN ('day', 'month', 'wave', 'year')),
    period_start  date NOT NULL,
    value         numeric NOT NULL,
    unit          text NOT NULL,
    baseline      numeric,
    computed_at   timestamptz NOT NULL DEFAULT now(),
    run_id        text,
    PRIMARY KEY (kpi_code, unit_code, grain, period_start)
);
CREATE INDEX kpi_value_period_idx ON mart.kpi_value (grain, period_start);
CREATE TABLE mart.kpi_definition (
    kpi_code      text PRIMARY KEY,
    name_zh       text NOT NULL,
    name_en       text NOT NULL,
    unit          text NOT NULL,
    grains        text[] NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('flow', 'stock', 'rate')),
    formula       text NOT NULL,
    source_feeds  text[] NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Canteen drill-down: per day, outlet and meal period.
CREATE TABLE mart.canteen_outlet_meal (
    day            date NOT NULL,
    unit_code      text NOT NULL,
    outlet_code    text NOT NULL,
    meal_period    text NOT NULL CHECK (meal_period IN ('breakfast', 'lunch', 'dinner', 'night')),
    revenue_yuan   numeric(14, 2) NOT NULL,
    transactions   bigint NOT NULL,
    diners         bigint NOT NULL,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    run_id         text,
    PRIMARY KEY (day, outlet_code, meal_period)
);

-- Read-only finance role: mart only, nothing else, no CREATE anywhere.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'finance_reader') THEN
        CREATE ROLE finance_reader NOLOGIN;
    END IF;
END
$$;
REVOKE ALL ON SCHEMA staging, core, quality FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA staging, core, quality FROM finance_reader;
GRANT USAGE ON SCHEMA mart TO finance_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO finance_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT SELECT ON TABLES TO finance_reader;
