-- Files that load but deserve a look: a file whose content is exactly another file's of the same
-- feed (day 4 delivered again as day 5: its rows collapse as duplicates), or a file in a feed folder
-- whose name is not the feed's pattern (a stray copy "canteen_20010305 (1).csv": never loaded).
-- One row per (feed, file, code): a run replaces the warnings of the files it looked at, so
-- re-running an interval leaves the table as one run did.
CREATE TABLE quality.file_warning (
    feed       text NOT NULL,
    file       text NOT NULL,
    code       text NOT NULL CHECK (code IN ('same_content_as_other_file', 'unexpected_file_name')),
    detail     text NOT NULL,
    run_id     text,
    warned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (feed, file, code)
);
COMMENT ON TABLE quality.file_warning IS
    'Warnings on landed files that do not fail a load: same_content_as_other_file, unexpected_file_name';
