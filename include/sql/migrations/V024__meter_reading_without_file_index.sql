-- Every load writes each index of core.meter_reading; the one by source file served only a
-- reload's delete. A meters file holds exactly its own day's readings (rule read_at_in_file_day,
-- and one file name per day), so a reload now deletes by day, through the day index.
DROP INDEX IF EXISTS core.meter_reading_file_idx;
