-- A unit dimension: every unit code a KPI row carries, with its Chinese and English name and kind,
-- so a reader (finance_reader included, who sees the mart only) reads 学生公寓管理中心, not a code.
-- A table, not a view over core: a mart view runs with its owner's rights and would let
-- finance_reader read core through it. It is refilled from core.sub_centre (the latest name of each
-- unit) by a trigger whenever sub_centres.csv is reloaded; 'campus' (the whole school) is not a
-- sub-centre and is kept here as 全校, nor is 'tenant' (outside tenants a meter is billed to, sources.md).
CREATE TABLE mart.unit (
    code     text PRIMARY KEY,
    name_zh  text NOT NULL,
    name_en  text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('campus', 'sub_centre', 'office', 'tenant'))
);
COMMENT ON TABLE mart.unit IS '单位 / Units: each unit code with its Chinese and English name (the latest in the reference data) and kind; campus = 全校, the whole school';
COMMENT ON COLUMN mart.unit.code IS '单位代码 / unit code as in mart.kpi_value.unit_code';
COMMENT ON COLUMN mart.unit.name_zh IS '中文名称 / Chinese name';
COMMENT ON COLUMN mart.unit.name_en IS '英文名称 / English name';
COMMENT ON COLUMN mart.unit.kind IS '类别 / kind: sub_centre, office, campus or tenant';

-- The targets (targets.csv) as the mart sees them, so a report's headline can say which targets
-- were missed when finance_reader produces it; refilled by a trigger like mart.unit.
CREATE TABLE mart.target (
    kpi_code   text NOT NULL,
    unit_code  text NOT NULL,
    bound      text NOT NULL CHECK (bound IN ('min', 'max')),
    value      numeric NOT NULL,
    PRIMARY KEY (kpi_code, unit_code, bound)
);
COMMENT ON TABLE mart.target IS '指标目标 / KPI targets from targets.csv: bound min = at least, max = at most';
COMMENT ON COLUMN mart.target.kpi_code IS '指标代码 / KPI code';
COMMENT ON COLUMN mart.target.unit_code IS '单位代码 / unit code (mart.unit.code)';
COMMENT ON COLUMN mart.target.bound IS '界限 / bound: min (at least) or max (at most)';
COMMENT ON COLUMN mart.target.value IS '目标值 / target value, in the KPI''s unit (rates as fractions 0–1)';

CREATE FUNCTION mart.refresh_unit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mart.unit;
    INSERT INTO mart.unit (code, name_zh, name_en, kind)
    SELECT DISTINCT ON (unit_code) unit_code, name_zh, name_en,
           CASE WHEN unit_code = 'office' THEN 'office' ELSE 'sub_centre' END
    FROM core.sub_centre WHERE unit_code NOT IN ('campus', 'tenant')
    ORDER BY unit_code, stage_since DESC;
    INSERT INTO mart.unit VALUES ('campus', '全校', 'Whole campus', 'campus'),
                                 ('tenant', '校外承租户', 'Outside tenants', 'tenant');
    RETURN NULL;
END $$;
CREATE TRIGGER sub_centre_to_mart_unit AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON core.sub_centre
    FOR EACH STATEMENT EXECUTE FUNCTION mart.refresh_unit();

CREATE FUNCTION mart.refresh_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mart.target;
    INSERT INTO mart.target SELECT kpi_code, unit_code, bound, value FROM core.target;
    RETURN NULL;
END $$;
CREATE TRIGGER target_to_mart_target AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON core.target
    FOR EACH STATEMENT EXECUTE FUNCTION mart.refresh_target();

-- Fill both from what is loaded now (an upgraded warehouse).
INSERT INTO mart.unit (code, name_zh, name_en, kind)
SELECT DISTINCT ON (unit_code) unit_code, name_zh, name_en,
       CASE WHEN unit_code = 'office' THEN 'office' ELSE 'sub_centre' END
FROM core.sub_centre WHERE unit_code NOT IN ('campus', 'tenant')
ORDER BY unit_code, stage_since DESC;
INSERT INTO mart.unit VALUES ('campus', '全校', 'Whole campus', 'campus'),
                             ('tenant', '校外承租户', 'Outside tenants', 'tenant');
INSERT INTO mart.target SELECT kpi_code, unit_code, bound, value FROM core.target;

-- The report views with a unit column gain 单位名称 (appended: CREATE OR REPLACE keeps the
-- existing columns, their numeric(30, 2) / numeric(30, 6) types and comments).

CREATE OR REPLACE VIEW mart.report_monthly_centre_books AS
WITH m AS (
    SELECT unit_code, period_start,
           max(value) FILTER (WHERE kpi_code = 'centre_revenue_yuan') AS r,
           max(value) FILTER (WHERE kpi_code = 'centre_cost_yuan') AS c,
           max(value) FILTER (WHERE kpi_code = 'centre_surplus_yuan') AS s,
           max(value) FILTER (WHERE kpi_code = 'social_capital_in_yuan') AS sc,
           max(value) FILTER (WHERE kpi_code = 'social_capital_share') AS sh,
           max(value) FILTER (WHERE kpi_code = 'capex_yuan') AS cx
    FROM mart.kpi_value
    WHERE grain = 'month'
      AND kpi_code IN ('capex_yuan', 'centre_cost_yuan', 'centre_revenue_yuan', 'centre_surplus_yuan', 'social_capital_in_yuan', 'social_capital_share')
    GROUP BY unit_code, period_start
)
SELECT m.period_start AS "月份",
       m.unit_code AS "单位",
       (m.r)::numeric(30, 2) AS "中心收入（元）",
       (m.c)::numeric(30, 2) AS "中心支出（元）",
       (m.s)::numeric(30, 2) AS "中心积累资金（元）",
       (sum(m.s) OVER (PARTITION BY m.unit_code, date_trunc('year', m.period_start) ORDER BY m.period_start))::numeric(30, 2) AS "本年累计积累资金（元）",
       (m.sc)::numeric(30, 2) AS "引入社会资金（元）",
       (m.sh)::numeric(30, 6) AS "社会资金占比",
       (m.cx)::numeric(30, 2) AS "投资支出（元）",
       (m.s - p.s)::numeric(30, 2) AS "积累资金环比增减（元）",
       (m.s - y.s)::numeric(30, 2) AS "积累资金同比增减（元）",
       (m.sc - y.sc)::numeric(30, 2) AS "社会资金同比增减（元）",
       coalesce(u.name_zh, m.unit_code) AS "单位名称"
FROM m m
LEFT JOIN m p ON p.period_start = (m.period_start - interval '1 month')::date AND p.unit_code = m.unit_code
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code
LEFT JOIN mart.unit u ON u.code = m.unit_code;
COMMENT ON COLUMN mart.report_monthly_centre_books."单位名称" IS '单位名称 / unit name in Chinese (mart.unit.name_zh); campus = 全校';

CREATE OR REPLACE VIEW mart.report_annual_centre_books AS
WITH m AS (
    SELECT unit_code, period_start,
           max(value) FILTER (WHERE kpi_code = 'centre_revenue_yuan') AS r,
           max(value) FILTER (WHERE kpi_code = 'centre_cost_yuan') AS c,
           max(value) FILTER (WHERE kpi_code = 'centre_surplus_yuan') AS s,
           max(value) FILTER (WHERE kpi_code = 'social_capital_in_yuan') AS sc,
           max(value) FILTER (WHERE kpi_code = 'social_capital_share') AS sh,
           max(value) FILTER (WHERE kpi_code = 'capex_yuan') AS cx
    FROM mart.kpi_value
    WHERE grain = 'year'
      AND kpi_code IN ('capex_yuan', 'centre_cost_yuan', 'centre_revenue_yuan', 'centre_surplus_yuan', 'social_capital_in_yuan', 'social_capital_share')
    GROUP BY unit_code, period_start
)
SELECT extract(year FROM m.period_start)::integer AS "年度",
       m.unit_code AS "单位",
       (m.r)::numeric(30, 2) AS "中心收入（元）",
       (m.c)::numeric(30, 2) AS "中心支出（元）",
       (m.s)::numeric(30, 2) AS "中心积累资金（元）",
       (m.sc)::numeric(30, 2) AS "引入社会资金（元）",
       (m.sh)::numeric(30, 6) AS "社会资金占比",
       (m.cx)::numeric(30, 2) AS "投资支出（元）",
       (m.s - y.s)::numeric(30, 2) AS "积累资金同比增减（元）",
       (m.sc - y.sc)::numeric(30, 2) AS "社会资金同比增减（元）",
       coalesce(u.name_zh, m.unit_code) AS "单位名称"
FROM m m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code
LEFT JOIN mart.unit u ON u.code = m.unit_code;
COMMENT ON COLUMN mart.report_annual_centre_books."单位名称" IS '单位名称 / unit name in Chinese (mart.unit.name_zh); campus = 全校';

CREATE OR REPLACE VIEW mart.report_monthly_service AS
WITH m AS (
    SELECT unit_code, period_start,
           max(value) FILTER (WHERE kpi_code = 'work_orders_completed') AS n,
           max(value) FILTER (WHERE kpi_code = 'response_on_time_rate') AS ro,
           max(value) FILTER (WHERE kpi_code = 'repair_on_time_rate') AS rp,
           max(value) FILTER (WHERE kpi_code = 'first_time_fix_rate') AS ff,
           max(value) FILTER (WHERE kpi_code = 'repair_rating_avg') AS ra,
           max(value) FILTER (WHERE kpi_code = 'work_orders_open') AS op
    FROM mart.kpi_value
    WHERE grain = 'month'
      AND kpi_code IN ('first_time_fix_rate', 'repair_on_time_rate', 'repair_rating_avg', 'response_on_time_rate', 'work_orders_completed', 'work_orders_open')
    GROUP BY unit_code, period_start
)
SELECT m.period_start AS "月份",
       m.unit_code AS "单位",
       (m.n)::integer AS "完成工单数",
       (m.ro)::numeric(30, 6) AS "响应及时率",
       (m.rp)::numeric(30, 6) AS "维修及时率",
       (m.ff)::numeric(30, 6) AS "一次修复率",
       (m.ra)::numeric(6, 2) AS "报修评价均分",
       (m.op)::integer AS "未完成工单数",
       (m.rp - p.rp)::numeric(30, 6) AS "维修及时率环比增减",
       (m.rp - y.rp)::numeric(30, 6) AS "维修及时率同比增减",
       (m.n - y.n)::integer AS "完成工单数同比增减",
       coalesce(u.name_zh, m.unit_code) AS "单位名称"
FROM m m
LEFT JOIN m p ON p.period_start = (m.period_start - interval '1 month')::date AND p.unit_code = m.unit_code
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code
LEFT JOIN mart.unit u ON u.code = m.unit_code;
COMMENT ON COLUMN mart.report_monthly_service."单位名称" IS '单位名称 / unit name in Chinese (mart.unit.name_zh); campus = 全校';

CREATE OR REPLACE VIEW mart.report_annual_service AS
WITH m AS (
    SELECT unit_code, period_start,
           max(value) FILTER (WHERE kpi_code = 'work_orders_completed') AS n,
           max(value) FILTER (WHERE kpi_code = 'response_on_time_rate') AS ro,
           max(value) FILTER (WHERE kpi_code = 'repair_on_time_rate') AS rp,
           max(value) FILTER (WHERE kpi_code = 'first_time_fix_rate') AS ff,
           max(value) FILTER (WHERE kpi_code = 'repair_rating_avg') AS ra,
           max(value) FILTER (WHERE kpi_code = 'work_orders_open') AS op
    FROM mart.kpi_value
    WHERE grain = 'year'
      AND kpi_code IN ('first_time_fix_rate', 'repair_on_time_rate', 'repair_rating_avg', 'response_on_time_rate', 'work_orders_completed', 'work_orders_open')
    GROUP BY unit_code, period_start
)
SELECT extract(year FROM m.period_start)::integer AS "年度",
       m.unit_code AS "单位",
       (m.n)::integer AS "完成工单数",
       (m.ro)::numeric(30, 6) AS "响应及时率",
       (m.rp)::numeric(30, 6) AS "维修及时率",
       (m.ff)::numeric(30, 6) AS "一次修复率",
       (m.ra)::numeric(6, 2) AS "报修评价均分",
       (m.op)::integer AS "未完成工单数",
       (m.rp - y.rp)::numeric(30, 6) AS "维修及时率同比增减",
       (m.n - y.n)::integer AS "完成工单数同比增减",
       coalesce(u.name_zh, m.unit_code) AS "单位名称"
FROM m m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code
LEFT JOIN mart.unit u ON u.code = m.unit_code;
COMMENT ON COLUMN mart.report_annual_service."单位名称" IS '单位名称 / unit name in Chinese (mart.unit.name_zh); campus = 全校';

CREATE OR REPLACE VIEW mart.report_monthly_satisfaction AS
WITH w AS (
    SELECT unit_code, period_start,
           max(value) FILTER (WHERE kpi_code = 'satisfaction_rate') AS rate,
           max(value) FILTER (WHERE kpi_code = 'satisfaction_responses') AS responses
    FROM mart.kpi_value
    WHERE grain = 'wave' AND kpi_code IN ('satisfaction_rate', 'satisfaction_responses')
    GROUP BY unit_code, period_start
)
SELECT date_trunc('month', w.period_start)::date AS "月份",
       w.period_start AS "调查日期",
       w.unit_code AS "单位",
       w.rate::numeric(30, 6) AS "满意率",
       w.responses::integer AS "有效答卷数",
       (w.rate - lag(w.rate) OVER (PARTITION BY w.unit_code ORDER BY w.period_start))::numeric(30, 6) AS "满意率较上次调查增减",
       coalesce(u.name_zh, w.unit_code) AS "单位名称"
FROM w
LEFT JOIN mart.unit u ON u.code = w.unit_code;
COMMENT ON COLUMN mart.report_monthly_satisfaction."单位名称" IS '单位名称 / unit name in Chinese (mart.unit.name_zh); campus = 全校';

CREATE OR REPLACE VIEW mart.report_annual_satisfaction AS
WITH m AS (
    SELECT unit_code, period_start,
           max(value) FILTER (WHERE kpi_code = 'satisfaction_rate') AS rate,
           max(value) FILTER (WHERE kpi_code = 'satisfaction_responses') AS responses
    FROM mart.kpi_value
    WHERE grain = 'year' AND kpi_code IN ('satisfaction_rate', 'satisfaction_responses')
    GROUP BY unit_code, period_start
)
SELECT extract(year FROM m.period_start)::integer AS "年度",
       m.unit_code AS "单位",
       m.rate::numeric(30, 6) AS "满意率",
       m.responses::integer AS "有效答卷数",
       (m.rate - y.rate)::numeric(30, 6) AS "满意率同比增减",
       coalesce(u.name_zh, m.unit_code) AS "单位名称"
FROM m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code
LEFT JOIN mart.unit u ON u.code = m.unit_code;
COMMENT ON COLUMN mart.report_annual_satisfaction."单位名称" IS '单位名称 / unit name in Chinese (mart.unit.name_zh); campus = 全校';


-- Views are tables to GRANT; grant explicitly too, as V013 does.
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO finance_reader;
