-- Publish a survey wave's audited stage (_sv_stage) into core.survey_answer, one row per
-- respondent and unit column. Parameters: %(file)s the file's name, %(answers)s / %(scores)s the
-- answer scale (text → score).

-- result: rows_loaded
SELECT count(*) FROM _sv_stage;

-- result: earlier_waves
SELECT DISTINCT wave_date FROM core.survey_answer WHERE source_file = %(file)s;

DELETE FROM core.survey_answer WHERE source_file = %(file)s;

INSERT INTO core.survey_answer (wave_date, response_no, unit_code, holder_type, submitted_at, answer, score,
                                source_file, source_row, run_id)
SELECT s.wave_date, s.response_no, a.key, s.holder_type, s.submitted_at, a.value #>> '{}', sc.score,
       s.source_file, s.source_row, s.run_id
FROM _sv_stage s CROSS JOIN LATERAL jsonb_each(s.answers) a
LEFT JOIN unnest(%(answers)s::text[], %(scores)s::smallint[]) sc(answer, score) ON sc.answer = a.value #>> '{}';
