-- Publish a ledger file's stage (_stage) into core: the file replaces its month. Identical lines
-- are not duplicates here (two equal invoices are two entries): nothing collapses.
-- Parameters: %(file)s the file's name, %(month)s its month's first day.

-- result: rows_loaded
SELECT count(*) FROM _stage;

-- result: affected_days
-- this month, and every later loaded month: their cumulative social_capital_share moves
SELECT %(month)s::date UNION SELECT DISTINCT month FROM core.ledger_line WHERE month > %(month)s;

DELETE FROM core.ledger_line WHERE month = %(month)s OR source_file = %(file)s;

INSERT INTO core.ledger_line (month, source_line, unit_code, entry_type, category, amount_yuan, funding_source,
                              memo, source_file, run_id)
SELECT month, source_line, unit_code, entry_type, category, amount_yuan, funding_source, memo, source_file, run_id
FROM _stage;
