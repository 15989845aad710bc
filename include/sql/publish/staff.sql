-- Publish a roster file's audited stage (_stage) into core: the file replaces its month.
-- Parameters: %(file)s the file's name, %(month)s its month's first day.

-- result: rows_loaded
SELECT count(*) FROM _stage;

DELETE FROM core.staff_month WHERE month = %(month)s OR source_file = %(file)s;

INSERT INTO core.staff_month (month, staff_hash, unit_code, role, origin, payer, monthly_cost_yuan,
                              source_file, source_line, run_id)
SELECT month, staff_hash, unit_code, role, origin, payer, monthly_cost_yuan, source_file, source_line, run_id
FROM _stage;
