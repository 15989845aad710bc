-- Publish a work-order file's audited stage (_wo_stage): replace the file's versions, re-derive the
-- touched tickets' current state, and list the months whose repair KPIs change.
-- Parameters: %(file)s the file's name, %(day)s its day, %(tz)s the local time zone.
--
-- Months whose KPIs may change: for the state before and after this load of every touched ticket,
-- every month from its creation to its completion (open stock at each month-end, and the
-- completion month's counts and rates); a ticket not completed stays open up to the data horizon
-- (the latest file day loaded, this file's day included: the same before and after the load, since
-- only this file's versions change); a cancelled one counts nowhere (its creation month is listed
-- anyway, harmlessly). Plus the file's own month, so a month whose files hold no ticket still gets
-- its open-stock row. The states before and after are gathered in _wo_states, their months
-- listed once at the end.

-- one publish at a time: a ticket's current state is derived from the versions of all files
SELECT pg_advisory_xact_lock(hashtext('campus_logistics.work_orders.current'));

CREATE TEMP TABLE _wo_touched ON COMMIT DROP AS SELECT order_id FROM core.work_order WITH NO DATA;

CREATE TEMP TABLE _wo_states ON COMMIT DROP AS SELECT created_at, completed_at, status FROM core.work_order WITH NO DATA;

-- the file's old versions and the touched tickets' current state go; the state before is kept
WITH old AS (DELETE FROM core.work_order_version WHERE source_file = %(file)s RETURNING order_id),
     touched AS (SELECT order_id FROM old UNION SELECT order_id FROM _wo_stage),
     kept AS (INSERT INTO _wo_touched SELECT order_id FROM touched),
     states AS (DELETE FROM core.work_order w USING touched t WHERE w.order_id = t.order_id
                RETURNING w.created_at, w.completed_at, w.status)
INSERT INTO _wo_states SELECT created_at, completed_at, status FROM states;

INSERT INTO core.work_order_version (order_id, updated_at, source_file, file_day, source_line, category,
    unit_code, building_code, room, created_at, dispatched_at, arrived_at, completed_at, status, rating,
    reopened, run_id)
SELECT order_id, updated_at, source_file, file_day, source_line, category,
    unit_code, building_code, room, created_at, dispatched_at, arrived_at, completed_at, status, rating,
    reopened, run_id
FROM _wo_stage;

-- the touched tickets' state after: each one's newest version, by its primary-key index
WITH states AS (
         INSERT INTO core.work_order (order_id, updated_at, source_file, file_day, category, unit_code,
             building_code, room, created_at, dispatched_at, arrived_at, completed_at, status, rating,
             reopened, run_id)
         SELECT v.order_id, v.updated_at, v.source_file, v.file_day, v.category, v.unit_code,
             v.building_code, v.room, v.created_at, v.dispatched_at, v.arrived_at, v.completed_at, v.status,
             v.rating, v.reopened, v.run_id
         FROM _wo_touched t
         CROSS JOIN LATERAL (
             SELECT * FROM core.work_order_version v WHERE v.order_id = t.order_id
             ORDER BY v.updated_at DESC, v.file_day DESC, v.source_file DESC LIMIT 1) v
         RETURNING created_at, completed_at, status)
INSERT INTO _wo_states SELECT created_at, completed_at, status FROM states;

-- result: months
-- each state's months: from its creation to its completion (cancelled: creation), or to the data
-- horizon (the latest file day loaded, at least the file's own)
WITH horizon AS (SELECT GREATEST(max(file_day), %(day)s::date) AS h FROM core.work_order_version),
     spans AS (SELECT date_trunc('month', created_at AT TIME ZONE %(tz)s)::date AS lo,
                      date_trunc('month', CASE
                          WHEN status IN ('completed', 'closed') AND completed_at IS NOT NULL
                              THEN GREATEST(completed_at, created_at) AT TIME ZONE %(tz)s
                          WHEN status = 'cancelled' THEN created_at AT TIME ZONE %(tz)s
                          ELSE GREATEST((SELECT h FROM horizon)::timestamp,
                                        created_at AT TIME ZONE %(tz)s) END)::date AS hi
               FROM _wo_states)
SELECT DISTINCT m::date FROM spans, generate_series(lo, hi, interval '1 month') m
UNION SELECT date_trunc('month', %(day)s::date)::date;
