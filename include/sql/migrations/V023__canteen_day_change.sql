-- The canteen days whose rows changed since mart.canteen_daily was last refreshed for them.
--
-- A KPI run asked for a range (a manual run over a year, say) refreshes only the days marked here,
-- the days without a daily row, and the days whose enrolment changed; the others are aggregated
-- from their stored daily rows. Marks are written by statement triggers on core.canteen_txn_key
-- (every load writes its ids there, reloads delete them), so a file loaded, replaced or deleted by
-- any path marks its days, including the days its rows move: a reversal's or refund's original
-- day, and the day of a reversal whose original arrives later.
-- No key: a mark is appended, never upserted, so loads marking the same day never wait on each
-- other's uncommitted marks; the refresh deletes every mark of the days it recomputes.
CREATE TABLE core.canteen_day_change (
    day         date NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX canteen_day_change_day_idx ON core.canteen_day_change (day);
COMMENT ON TABLE core.canteen_day_change IS
    '食堂待重算日 / canteen days whose transactions changed since their daily aggregates were refreshed';

CREATE FUNCTION core.mark_canteen_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO core.canteen_day_change (day)
    SELECT DISTINCT d FROM (
        SELECT c.txn_date AS d FROM changed c
        UNION ALL  -- a reversal or refund counts on its original's day
        SELECT o.d FROM changed c, LATERAL (SELECT k.txn_date AS d FROM core.canteen_txn_key k
                                            WHERE k.txn_id = c.orig_txn_id OFFSET 0) o
        WHERE c.orig_txn_id IS NOT NULL
        UNION ALL  -- reversals loaded before their original move to (or back from) its day
        -- (LATERAL … OFFSET 0: one probe of the link index per changed row, whatever the planner
        -- guesses of a transition table's size)
        SELECT r.d FROM changed c, LATERAL (SELECT k.txn_date AS d FROM core.canteen_txn_key k
                                            WHERE k.orig_txn_id = c.txn_id OFFSET 0) r
        WHERE c.txn_type = 'purchase'
    ) x;
    RETURN NULL;
END $$;

CREATE TRIGGER canteen_txn_key_inserted AFTER INSERT ON core.canteen_txn_key
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.mark_canteen_days();
CREATE TRIGGER canteen_txn_key_deleted AFTER DELETE ON core.canteen_txn_key
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.mark_canteen_days();
CREATE TRIGGER canteen_txn_key_updated_from AFTER UPDATE ON core.canteen_txn_key
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.mark_canteen_days();
CREATE TRIGGER canteen_txn_key_updated_to AFTER UPDATE ON core.canteen_txn_key
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.mark_canteen_days();

-- Days loaded before this migration whose daily rows were never computed (a KPI run that failed)
INSERT INTO core.canteen_day_change (day)
SELECT DISTINCT k.txn_date FROM core.canteen_txn_key k
WHERE NOT EXISTS (SELECT 1 FROM mart.canteen_daily c WHERE c.day = k.txn_date AND c.unit_code = 'campus');
