-- work_orders publish: the data horizon (the latest file day loaded) is read for every file
-- loaded; an index on file_day makes that max() a single index probe instead of a table scan.
CREATE INDEX work_order_version_day_idx ON core.work_order_version (file_day);
