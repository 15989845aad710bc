-- The rows a load collapsed as duplicates (identical to a row it kept), a sample per file, so the
-- audit trail of a KPI can name them by line like the quarantined rows (the count of all of them is
-- rows_duplicate in quality.file_reconciliation). Replaced with the file's quarantine on every load.
CREATE TABLE quality.duplicate_row (
    feed        text NOT NULL,
    file        text NOT NULL,
    row_number  integer NOT NULL,
    kept_row    integer,  -- the line of the identical row kept in the same file; NULL: kept from another file
    run_id      text,
    PRIMARY KEY (feed, file, row_number)
);
COMMENT ON TABLE quality.duplicate_row IS
    '重复行样例 / Sample (first 20 per file) of the rows a load collapsed as identical duplicates';
COMMENT ON COLUMN quality.duplicate_row.row_number IS '行号 / line of the collapsed row in the file';
COMMENT ON COLUMN quality.duplicate_row.kept_row IS '保留行号 / line of the identical row kept (NULL: another file''s)';
