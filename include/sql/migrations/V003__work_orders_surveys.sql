-- Repair / service tickets (work_orders/) and satisfaction survey waves (surveys/).

-- Every version of every ticket that any work-order file delivered: a file holds each ticket
-- created or changed that day in its CURRENT state, so the same order_id arrives again on later
-- days. Keeping every version with its source file makes loading order-independent: re-running a
-- file (older or newer, in any order) replaces exactly that file's versions, and the current state
-- (core.work_order) is re-derived as the newest version of each ticket.
CREATE TABLE core.work_order_version (
    order_id       text NOT NULL,
    updated_at     timestamptz NOT NULL,
    source_file    text NOT NULL,
    file_day       date NOT NULL,
    source_line    integer NOT NULL,
    category       text NOT NULL,
    unit_code      text NOT NULL,
    building_code  text,
    room           text,
    created_at     timestamptz NOT NULL,
    dispatched_at  timestamptz,
    arrived_at     timestamptz,
    completed_at   timestamptz,
    status         text NOT NULL CHECK (status IN ('open', 'dispatched', 'in_progress', 'completed', 'closed', 'cancelled')),
    rating         smallint CHECK (rating BETWEEN 1 AND 5),
    reopened       boolean NOT NULL,
    run_id         text,
    PRIMARY KEY (order_id, updated_at, source_file)
);
CREATE INDEX work_order_version_file_idx ON core.work_order_version (source_file);
COMMENT ON TABLE core.work_order_version IS '报修工单版本 / Every version of every repair ticket, per source file (the newest updated_at is the current state)';
COMMENT ON COLUMN core.work_order_version.order_id IS '工单号 / ticket id';
COMMENT ON COLUMN core.work_order_version.updated_at IS '最后更新时间 / time the ticket last changed (this version)';
COMMENT ON COLUMN core.work_order_version.source_file IS '来源文件 / landing file the version came from';
COMMENT ON COLUMN core.work_order_version.file_day IS '文件日期 / the day the file covers';
COMMENT ON COLUMN core.work_order_version.source_line IS '来源位置 / position of the ticket in the file''s JSON array (1-based)';
COMMENT ON COLUMN core.work_order_version.category IS '报修类别 / category (ref/sla.csv)';
COMMENT ON COLUMN core.work_order_version.unit_code IS '责任单位 / responsible sub-centre';
COMMENT ON COLUMN core.work_order_version.status IS '状态 / open, dispatched, in_progress, completed, closed, cancelled';
COMMENT ON COLUMN core.work_order_version.rating IS '评价（1–5） / requester''s rating 1–5, null if not rated';
COMMENT ON COLUMN core.work_order_version.reopened IS '是否返修 / reopened after a completion';

-- The current state of every ticket: its newest version (ties on updated_at: the later file).
CREATE TABLE core.work_order (
    order_id       text PRIMARY KEY,
    updated_at     timestamptz NOT NULL,
    source_file    text NOT NULL,
    file_day       date NOT NULL,
    category       text NOT NULL,
    unit_code      text NOT NULL,
    building_code  text,
    room           text,
    created_at     timestamptz NOT NULL,
    dispatched_at  timestamptz,
    arrived_at     timestamptz,
    completed_at   timestamptz,
    status         text NOT NULL,
    rating         smallint,
    reopened       boolean NOT NULL,
    run_id         text
);
CREATE INDEX work_order_completed_idx ON core.work_order (completed_at);
CREATE INDEX work_order_created_idx ON core.work_order (created_at);
COMMENT ON TABLE core.work_order IS '报修工单当前状态 / Current state of each repair ticket: its newest version in core.work_order_version';
COMMENT ON COLUMN core.work_order.source_file IS '当前版本的来源文件 / file that delivered the current version';

-- Satisfaction survey answers, long format: one row per respondent and service column of the
-- wave's file; answer NULL = the respondent left that service unanswered.
CREATE TABLE core.survey_answer (
    wave_date     date NOT NULL,
    response_no   text NOT NULL,
    unit_code     text NOT NULL,
    holder_type   text NOT NULL CHECK (holder_type IN ('student', 'staff')),
    submitted_at  timestamptz NOT NULL,
    answer        text CHECK (answer IN ('非常满意', '满意', '一般', '不满意', '非常不满意')),
    score         smallint CHECK (score BETWEEN 1 AND 5),
    source_file   text NOT NULL,
    source_row    integer NOT NULL,
    run_id        text,
    PRIMARY KEY (wave_date, response_no, unit_code),
    CHECK ((answer IS NULL) = (score IS NULL))
);
CREATE INDEX survey_answer_file_idx ON core.survey_answer (source_file);
COMMENT ON TABLE core.survey_answer IS '满意度测评答卷（长表） / Satisfaction survey answers: one row per respondent and service column';
COMMENT ON COLUMN core.survey_answer.wave_date IS '测评批次日期 / wave date (the date in the file name)';
COMMENT ON COLUMN core.survey_answer.response_no IS '序号 / response number within the wave';
COMMENT ON COLUMN core.survey_answer.unit_code IS '被评单位 / unit whose service is rated (column header = its name_zh)';
COMMENT ON COLUMN core.survey_answer.holder_type IS '身份 / respondent: student (学生) or staff (教职工)';
COMMENT ON COLUMN core.survey_answer.submitted_at IS '提交答卷时间 / time the answers were submitted';
COMMENT ON COLUMN core.survey_answer.answer IS '评价 / 非常满意, 满意, 一般, 不满意, 非常不满意; NULL = not answered';
COMMENT ON COLUMN core.survey_answer.score IS '分值 / 5 = 非常满意 … 1 = 非常不满意';
COMMENT ON COLUMN core.survey_answer.source_row IS '来源行号 / row in the sheet (header = 1)';
