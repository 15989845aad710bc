-- The monthly HR roster (staff/) and the centre's second-level ledger (ledger/).

-- One row per person and month. staff_hash is the HMAC pseudonym of staff_id (never the raw id).
-- A roster file covers exactly one month, so re-delivering a month's file replaces that month.
CREATE TABLE core.staff_month (
    month              date NOT NULL CHECK (month = date_trunc('month', month)::date),
    staff_hash         text NOT NULL,
    unit_code          text NOT NULL,
    role               text NOT NULL CHECK (role IN ('management', 'cook', 'service', 'technician')),
    origin             text NOT NULL CHECK (origin IN ('school_establishment', 'school_transfer', 'social_hire')),
    payer              text NOT NULL CHECK (payer IN ('school', 'centre')),
    monthly_cost_yuan  numeric(12, 2) NOT NULL CHECK (monthly_cost_yuan >= 0),
    source_file        text NOT NULL,
    source_line        integer NOT NULL,
    run_id             text,
    PRIMARY KEY (month, staff_hash)
);
CREATE INDEX staff_month_file_idx ON core.staff_month (source_file);
COMMENT ON TABLE core.staff_month IS '人员花名册（按月） / Monthly HR roster: one row per person and month; staff_id pseudonymised (HMAC)';
COMMENT ON COLUMN core.staff_month.month IS '月份（当月1日） / month (its first day)';
COMMENT ON COLUMN core.staff_month.staff_hash IS '人员编号假名（HMAC-SHA256） / pseudonym of staff_id (HMAC-SHA256)';
COMMENT ON COLUMN core.staff_month.unit_code IS '所在单位 / unit (sub-centre code or office)';
COMMENT ON COLUMN core.staff_month.role IS '岗位 / role: management, cook, service, technician';
COMMENT ON COLUMN core.staff_month.origin IS '人员来源 / origin: school_establishment, school_transfer, social_hire';
COMMENT ON COLUMN core.staff_month.payer IS '经费承担方 / who pays: school or centre';
COMMENT ON COLUMN core.staff_month.monthly_cost_yuan IS '月人工成本（元） / employer''s full monthly cost, yuan';
COMMENT ON COLUMN core.staff_month.source_file IS '来源文件 / landing file the row came from';
COMMENT ON COLUMN core.staff_month.source_line IS '来源行号 / line number in the source file (header = 1)';

-- One row per ledger line. Lines carry no id, and two identical lines may both be real entries,
-- so nothing is collapsed: the key is the file's month and the line number in the file.
CREATE TABLE core.ledger_line (
    month           date NOT NULL CHECK (month = date_trunc('month', month)::date),
    source_line     integer NOT NULL,
    unit_code       text NOT NULL,
    entry_type      text NOT NULL CHECK (entry_type IN ('revenue', 'cost', 'capital_in', 'capex')),
    category        text,
    amount_yuan     numeric(14, 2) NOT NULL CHECK (amount_yuan > 0),
    funding_source  text NOT NULL CHECK (funding_source IN ('school', 'centre', 'social')),
    memo            text,
    source_file     text NOT NULL,
    run_id          text,
    PRIMARY KEY (month, source_line)
);
CREATE INDEX ledger_line_file_idx ON core.ledger_line (source_file);
CREATE INDEX ledger_line_capital_idx ON core.ledger_line (month) WHERE entry_type = 'capital_in';
COMMENT ON TABLE core.ledger_line IS '后勤服务中心二级财务明细（按月） / The centre''s second-level ledger lines, one row per line of the monthly file';
COMMENT ON COLUMN core.ledger_line.month IS '月份（当月1日） / month (its first day)';
COMMENT ON COLUMN core.ledger_line.source_line IS '来源行号 / line number in the source file (header = 1)';
COMMENT ON COLUMN core.ledger_line.unit_code IS '核算单位 / unit (sub-centre code or office)';
COMMENT ON COLUMN core.ledger_line.entry_type IS '分录类型 / entry type: revenue, cost, capital_in, capex';
COMMENT ON COLUMN core.ledger_line.category IS '会计科目 / chart-of-accounts category (free text)';
COMMENT ON COLUMN core.ledger_line.amount_yuan IS '金额（元，正数） / amount, yuan, positive';
COMMENT ON COLUMN core.ledger_line.funding_source IS '资金来源 / funding source: school, centre, social';
COMMENT ON COLUMN core.ledger_line.memo IS '摘要 / memo';
COMMENT ON COLUMN core.ledger_line.source_file IS '来源文件 / landing file the line came from';
