-- Wider numbers for the mart: a value accepted at ingest (limits.py bounds each transaction, ledger
-- line, person-month and meter reading) must still sum over a year, and a rate against a tiny
-- baseline must still show. The daily canteen aggregates and the report views held money in
-- numeric(14, 2) (below 10^12 yuan) and rates in numeric(9, 6) (below 1000): one implausible day
-- overflowed the KPI recompute of every feed, or the reports. Money and quantities are now
-- numeric(30, 2), rates numeric(30, 6); scale 2 and 6 still tell the report writers yuan from rates.
-- A view's column type cannot be altered, so the report views are re-created as in V012.

DROP VIEW mart.report_monthly_savings;
DROP VIEW mart.report_annual_savings;
DROP VIEW mart.report_monthly_staffing;
DROP VIEW mart.report_annual_staffing;
DROP VIEW mart.report_monthly_utilities;
DROP VIEW mart.report_annual_utilities;
DROP VIEW mart.report_monthly_centre_books;
DROP VIEW mart.report_annual_centre_books;
DROP VIEW mart.report_monthly_service;
DROP VIEW mart.report_annual_service;
DROP VIEW mart.report_monthly_satisfaction;
DROP VIEW mart.report_annual_satisfaction;

ALTER TABLE mart.canteen_daily ALTER COLUMN revenue_yuan TYPE numeric(30, 2);
ALTER TABLE mart.canteen_outlet_meal ALTER COLUMN revenue_yuan TYPE numeric(30, 2);

-- 改革节约（月度） / Reform savings: personnel cost the school no longer pays and utilities saved and recovered
CREATE VIEW mart.report_monthly_savings AS
WITH m AS (
    SELECT period_start,
           max(value) FILTER (WHERE kpi_code = 'personnel_cost_saved_yuan') AS p,
           max(value) FILTER (WHERE kpi_code = 'personnel_cost_saved_transfer_yuan') AS pt,
           max(value) FILTER (WHERE kpi_code = 'personnel_cost_saved_cooks_yuan') AS pc,
           max(value) FILTER (WHERE kpi_code = 'utilities_conservation_saved_yuan') AS uc,
           max(value) FILTER (WHERE kpi_code = 'utilities_recovered_yuan') AS ur,
           max(value) FILTER (WHERE kpi_code = 'utilities_saved_total_yuan') AS ut
    FROM mart.kpi_value
    WHERE grain = 'month' AND unit_code = 'campus'
      AND kpi_code IN ('personnel_cost_saved_cooks_yuan', 'personnel_cost_saved_transfer_yuan', 'personnel_cost_saved_yuan', 'utilities_conservation_saved_yuan', 'utilities_recovered_yuan', 'utilities_saved_total_yuan')
    GROUP BY period_start
), m2 AS (SELECT m.*, m.p + m.ut AS total FROM m)
SELECT m.period_start AS "月份",
       (m.p)::numeric(30, 2) AS "学校节约人员经费（元）",
       (m.pt)::numeric(30, 2) AS "其中：分流人员节约经费（元）",
       (m.pc)::numeric(30, 2) AS "其中：炊事员节约经费（元）",
       (m.uc)::numeric(30, 2) AS "节约水电费（元）",
       (m.ur)::numeric(30, 2) AS "回收水电费（元）",
       (m.ut)::numeric(30, 2) AS "水电费节约合计（元）",
       (m.total)::numeric(30, 2) AS "节约合计（元）",
       (sum(m.total) OVER (PARTITION BY date_trunc('year', m.period_start) ORDER BY m.period_start))::numeric(30, 2) AS "本年累计节约合计（元）",
       (m.total - p.total)::numeric(30, 2) AS "节约合计环比增减（元）",
       (m.total - y.total)::numeric(30, 2) AS "节约合计同比增减（元）"
FROM m2 m
LEFT JOIN m2 p ON p.period_start = (m.period_start - interval '1 month')::date
LEFT JOIN m2 y ON y.period_start = (m.period_start - interval '1 year')::date;
COMMENT ON VIEW mart.report_monthly_savings IS '改革节约月度报表 / Monthly report: Reform savings: personnel cost the school no longer pays and utilities saved and recovered; one row per month (campus). 同比 = against the same period a year earlier; 环比 = against the previous month; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_monthly_savings."月份" IS '月份 / month (first day of the month)';
COMMENT ON COLUMN mart.report_monthly_savings."学校节约人员经费（元）" IS '学校节约人员经费（元） / personnel cost saved by the school, yuan (personnel_cost_saved_yuan)';
COMMENT ON COLUMN mart.report_monthly_savings."其中：分流人员节约经费（元）" IS '其中：分流人员节约经费（元） / of which: staff transferred from the school, yuan (personnel_cost_saved_transfer_yuan)';
COMMENT ON COLUMN mart.report_monthly_savings."其中：炊事员节约经费（元）" IS '其中：炊事员节约经费（元） / of which: cooks borne by the centre, yuan (personnel_cost_saved_cooks_yuan)';
COMMENT ON COLUMN mart.report_monthly_savings."节约水电费（元）" IS '节约水电费（元） / utilities conservation saving against the pre-reform baseline, yuan (utilities_conservation_saved_yuan); negative when consumption rose';
COMMENT ON COLUMN mart.report_monthly_savings."回收水电费（元）" IS '回收水电费（元） / utilities charges recovered from units and tenants, yuan (utilities_recovered_yuan)';
COMMENT ON COLUMN mart.report_monthly_savings."水电费节约合计（元）" IS '水电费节约合计（元） / utilities saved in total = conservation + recovered, yuan (utilities_saved_total_yuan)';
COMMENT ON COLUMN mart.report_monthly_savings."节约合计（元）" IS '节约合计（元） / total saving = personnel cost saved + utilities saved in total, yuan; empty unless both are known';
COMMENT ON COLUMN mart.report_monthly_savings."本年累计节约合计（元）" IS '本年累计节约合计（元） / total saving from January through this month, yuan';
COMMENT ON COLUMN mart.report_monthly_savings."节约合计环比增减（元）" IS '节约合计环比增减（元） / month-on-month change of the total saving (this month − previous month), yuan';
COMMENT ON COLUMN mart.report_monthly_savings."节约合计同比增减（元）" IS '节约合计同比增减（元） / year-on-year change of the total saving (this period − same period a year earlier), yuan';

-- 改革节约（年度） / Reform savings: personnel cost the school no longer pays and utilities saved and recovered
CREATE VIEW mart.report_annual_savings AS
WITH m AS (
    SELECT period_start,
           max(value) FILTER (WHERE kpi_code = 'personnel_cost_saved_yuan') AS p,
           max(value) FILTER (WHERE kpi_code = 'personnel_cost_saved_transfer_yuan') AS pt,
           max(value) FILTER (WHERE kpi_code = 'personnel_cost_saved_cooks_yuan') AS pc,
           max(value) FILTER (WHERE kpi_code = 'utilities_conservation_saved_yuan') AS uc,
           max(value) FILTER (WHERE kpi_code = 'utilities_recovered_yuan') AS ur,
           max(value) FILTER (WHERE kpi_code = 'utilities_saved_total_yuan') AS ut
    FROM mart.kpi_value
    WHERE grain = 'year' AND unit_code = 'campus'
      AND kpi_code IN ('personnel_cost_saved_cooks_yuan', 'personnel_cost_saved_transfer_yuan', 'personnel_cost_saved_yuan', 'utilities_conservation_saved_yuan', 'utilities_recovered_yuan', 'utilities_saved_total_yuan')
    GROUP BY period_start
), m2 AS (SELECT m.*, m.p + m.ut AS total FROM m)
SELECT extract(year FROM m.period_start)::integer AS "年度",
       (m.p)::numeric(30, 2) AS "学校节约人员经费（元）",
       (m.pt)::numeric(30, 2) AS "其中：分流人员节约经费（元）",
       (m.pc)::numeric(30, 2) AS "其中：炊事员节约经费（元）",
       (m.uc)::numeric(30, 2) AS "节约水电费（元）",
       (m.ur)::numeric(30, 2) AS "回收水电费（元）",
       (m.ut)::numeric(30, 2) AS "水电费节约合计（元）",
       (m.total)::numeric(30, 2) AS "节约合计（元）",
       (m.total - y.total)::numeric(30, 2) AS "节约合计同比增减（元）"
FROM m2 m
LEFT JOIN m2 y ON y.period_start = (m.period_start - interval '1 year')::date;
COMMENT ON VIEW mart.report_annual_savings IS '改革节约年度报表 / Annual report: Reform savings: personnel cost the school no longer pays and utilities saved and recovered; one row per year (campus). 同比 = against the same period a year earlier; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_annual_savings."年度" IS '年度 / year';
COMMENT ON COLUMN mart.report_annual_savings."学校节约人员经费（元）" IS '学校节约人员经费（元） / personnel cost saved by the school, yuan (personnel_cost_saved_yuan)';
COMMENT ON COLUMN mart.report_annual_savings."其中：分流人员节约经费（元）" IS '其中：分流人员节约经费（元） / of which: staff transferred from the school, yuan (personnel_cost_saved_transfer_yuan)';
COMMENT ON COLUMN mart.report_annual_savings."其中：炊事员节约经费（元）" IS '其中：炊事员节约经费（元） / of which: cooks borne by the centre, yuan (personnel_cost_saved_cooks_yuan)';
COMMENT ON COLUMN mart.report_annual_savings."节约水电费（元）" IS '节约水电费（元） / utilities conservation saving against the pre-reform baseline, yuan (utilities_conservation_saved_yuan); negative when consumption rose';
COMMENT ON COLUMN mart.report_annual_savings."回收水电费（元）" IS '回收水电费（元） / utilities charges recovered from units and tenants, yuan (utilities_recovered_yuan)';
COMMENT ON COLUMN mart.report_annual_savings."水电费节约合计（元）" IS '水电费节约合计（元） / utilities saved in total = conservation + recovered, yuan (utilities_saved_total_yuan)';
COMMENT ON COLUMN mart.report_annual_savings."节约合计（元）" IS '节约合计（元） / total saving = personnel cost saved + utilities saved in total, yuan; empty unless both are known';
COMMENT ON COLUMN mart.report_annual_savings."节约合计同比增减（元）" IS '节约合计同比增减（元） / year-on-year change of the total saving (this period − same period a year earlier), yuan';

-- 人员编制（月度） / Staffing against the pre-reform norms, and jobs the centre provides
CREATE VIEW mart.report_monthly_staffing AS
WITH m AS (
    SELECT period_start,
           max(value) FILTER (WHERE kpi_code = 'admin_norm_headcount') AS an,
           max(value) FILTER (WHERE kpi_code = 'admin_headcount') AS ah,
           max(value) FILTER (WHERE kpi_code = 'admin_posts_saved') AS ap,
           max(value) FILTER (WHERE kpi_code = 'cook_norm_headcount') AS cn,
           max(value) FILTER (WHERE kpi_code = 'cooks_borne_by_centre') AS cb,
           max(value) FILTER (WHERE kpi_code = 'jobs_provided') AS j,
           max(value) FILTER (WHERE kpi_code = 'jobs_school_transfer') AS jt,
           max(value) FILTER (WHERE kpi_code = 'jobs_social_hire') AS js
    FROM mart.kpi_value
    WHERE grain = 'month' AND unit_code = 'campus'
      AND kpi_code IN ('admin_headcount', 'admin_norm_headcount', 'admin_posts_saved', 'cook_norm_headcount', 'cooks_borne_by_centre', 'jobs_provided', 'jobs_school_transfer', 'jobs_social_hire')
    GROUP BY period_start
)
SELECT m.period_start AS "月份",
       (m.an)::integer AS "定编管理人员数",
       (m.ah)::integer AS "管理人员数",
       (m.ap)::integer AS "精简管理人员数",
       (m.ap / nullif(m.an, 0))::numeric(30, 6) AS "管理人员精简率",
       (m.cn)::integer AS "炊事员定编数",
       (m.cb)::integer AS "社会承担炊事员数",
       (m.cb / nullif(m.cn, 0))::numeric(30, 6) AS "社会承担炊事员比例",
       (m.j)::integer AS "中心提供就业岗位",
       (m.jt)::integer AS "其中：安置学校分流人员",
       (m.js)::integer AS "其中：吸收社会人员",
       (m.ah - p.ah)::integer AS "管理人员数环比增减",
       (m.ah - y.ah)::integer AS "管理人员数同比增减",
       (m.j - y.j)::integer AS "就业岗位同比增减"
FROM m m
LEFT JOIN m p ON p.period_start = (m.period_start - interval '1 month')::date
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date;
COMMENT ON VIEW mart.report_monthly_staffing IS '人员编制月度报表 / Monthly report: Staffing against the pre-reform norms, and jobs the centre provides; one row per month (campus). 同比 = against the same period a year earlier; 环比 = against the previous month; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_monthly_staffing."月份" IS '月份 / month (first day of the month)';
COMMENT ON COLUMN mart.report_monthly_staffing."定编管理人员数" IS '定编管理人员数 / admin staff norm (admin_norm_headcount): 17 per full thousand students';
COMMENT ON COLUMN mart.report_monthly_staffing."管理人员数" IS '管理人员数 / admin headcount (admin_headcount)';
COMMENT ON COLUMN mart.report_monthly_staffing."精简管理人员数" IS '精简管理人员数 / admin posts saved against the norm (admin_posts_saved)';
COMMENT ON COLUMN mart.report_monthly_staffing."管理人员精简率" IS '管理人员精简率 / admin posts saved ÷ admin staff norm (fraction 0–1)';
COMMENT ON COLUMN mart.report_monthly_staffing."炊事员定编数" IS '炊事员定编数 / cook norm (cook_norm_headcount): one per students_per_cook students';
COMMENT ON COLUMN mart.report_monthly_staffing."社会承担炊事员数" IS '社会承担炊事员数 / cooks paid by the centre (cooks_borne_by_centre)';
COMMENT ON COLUMN mart.report_monthly_staffing."社会承担炊事员比例" IS '社会承担炊事员比例 / cooks paid by the centre ÷ cook norm (fraction)';
COMMENT ON COLUMN mart.report_monthly_staffing."中心提供就业岗位" IS '中心提供就业岗位 / jobs provided by the centre (jobs_provided)';
COMMENT ON COLUMN mart.report_monthly_staffing."其中：安置学校分流人员" IS '其中：安置学校分流人员 / of which: staff transferred from the school (jobs_school_transfer)';
COMMENT ON COLUMN mart.report_monthly_staffing."其中：吸收社会人员" IS '其中：吸收社会人员 / of which: social hires (jobs_social_hire)';
COMMENT ON COLUMN mart.report_monthly_staffing."管理人员数环比增减" IS '管理人员数环比增减 / month-on-month change of the admin headcount';
COMMENT ON COLUMN mart.report_monthly_staffing."管理人员数同比增减" IS '管理人员数同比增减 / year-on-year change of the admin headcount';
COMMENT ON COLUMN mart.report_monthly_staffing."就业岗位同比增减" IS '就业岗位同比增减 / year-on-year change of the jobs provided';

-- 人员编制（年度） / Staffing against the pre-reform norms, and jobs the centre provides
CREATE VIEW mart.report_annual_staffing AS
WITH m AS (
    SELECT period_start,
           max(value) FILTER (WHERE kpi_code = 'admin_norm_headcount') AS an,
           max(value) FILTER (WHERE kpi_code = 'admin_headcount') AS ah,
           max(value) FILTER (WHERE kpi_code = 'admin_posts_saved') AS ap,
           max(value) FILTER (WHERE kpi_code = 'cook_norm_headcount') AS cn,
           max(value) FILTER (WHERE kpi_code = 'cooks_borne_by_centre') AS cb,
           max(value) FILTER (WHERE kpi_code = 'jobs_provided') AS j,
           max(value) FILTER (WHERE kpi_code = 'jobs_school_transfer') AS jt,
           max(value) FILTER (WHERE kpi_code = 'jobs_social_hire') AS js
    FROM mart.kpi_value
    WHERE grain = 'year' AND unit_code = 'campus'
      AND kpi_code IN ('admin_headcount', 'admin_norm_headcount', 'admin_posts_saved', 'cook_norm_headcount', 'cooks_borne_by_centre', 'jobs_provided', 'jobs_school_transfer', 'jobs_social_hire')
    GROUP BY period_start
)
SELECT extract(year FROM m.period_start)::integer AS "年度",
       (m.an)::integer AS "定编管理人员数",
       (m.ah)::integer AS "管理人员数",
       (m.ap)::integer AS "精简管理人员数",
       (m.ap / nullif(m.an, 0))::numeric(30, 6) AS "管理人员精简率",
       (m.cn)::integer AS "炊事员定编数",
       (m.cb)::integer AS "社会承担炊事员数",
       (m.cb / nullif(m.cn, 0))::numeric(30, 6) AS "社会承担炊事员比例",
       (m.j)::integer AS "中心提供就业岗位",
       (m.jt)::integer AS "其中：安置学校分流人员",
       (m.js)::integer AS "其中：吸收社会人员",
       (m.ah - y.ah)::integer AS "管理人员数同比增减",
       (m.j - y.j)::integer AS "就业岗位同比增减"
FROM m m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date;
COMMENT ON VIEW mart.report_annual_staffing IS '人员编制年度报表 / Annual report: Staffing against the pre-reform norms, and jobs the centre provides; one row per year (campus). 同比 = against the same period a year earlier; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_annual_staffing."年度" IS '年度 / year';
COMMENT ON COLUMN mart.report_annual_staffing."定编管理人员数" IS '定编管理人员数 / admin staff norm (admin_norm_headcount): 17 per full thousand students';
COMMENT ON COLUMN mart.report_annual_staffing."管理人员数" IS '管理人员数 / admin headcount (admin_headcount)';
COMMENT ON COLUMN mart.report_annual_staffing."精简管理人员数" IS '精简管理人员数 / admin posts saved against the norm (admin_posts_saved)';
COMMENT ON COLUMN mart.report_annual_staffing."管理人员精简率" IS '管理人员精简率 / admin posts saved ÷ admin staff norm (fraction 0–1)';
COMMENT ON COLUMN mart.report_annual_staffing."炊事员定编数" IS '炊事员定编数 / cook norm (cook_norm_headcount): one per students_per_cook students';
COMMENT ON COLUMN mart.report_annual_staffing."社会承担炊事员数" IS '社会承担炊事员数 / cooks paid by the centre (cooks_borne_by_centre)';
COMMENT ON COLUMN mart.report_annual_staffing."社会承担炊事员比例" IS '社会承担炊事员比例 / cooks paid by the centre ÷ cook norm (fraction)';
COMMENT ON COLUMN mart.report_annual_staffing."中心提供就业岗位" IS '中心提供就业岗位 / jobs provided by the centre (jobs_provided)';
COMMENT ON COLUMN mart.report_annual_staffing."其中：安置学校分流人员" IS '其中：安置学校分流人员 / of which: staff transferred from the school (jobs_school_transfer)';
COMMENT ON COLUMN mart.report_annual_staffing."其中：吸收社会人员" IS '其中：吸收社会人员 / of which: social hires (jobs_social_hire)';
COMMENT ON COLUMN mart.report_annual_staffing."管理人员数同比增减" IS '管理人员数同比增减 / year-on-year change of the admin headcount';
COMMENT ON COLUMN mart.report_annual_staffing."就业岗位同比增减" IS '就业岗位同比增减 / year-on-year change of the jobs provided';

-- 水电节约与回收（月度） / Utilities: school-paid consumption against the pre-reform baseline, charges recovered
CREATE VIEW mart.report_monthly_utilities AS
WITH m AS (
    SELECT period_start,
           max(value) FILTER (WHERE kpi_code = 'electricity_kwh_school') AS es,
           max(value) FILTER (WHERE kpi_code = 'water_m3_school') AS ws,
           max(value) FILTER (WHERE kpi_code = 'electricity_kwh_billed') AS eb,
           max(value) FILTER (WHERE kpi_code = 'water_m3_billed') AS wb,
           max(value) FILTER (WHERE kpi_code = 'utilities_conservation_saved_yuan') AS uc,
           max(value) FILTER (WHERE kpi_code = 'utilities_recovered_yuan') AS ur,
           max(value) FILTER (WHERE kpi_code = 'utilities_saved_total_yuan') AS ut,
           max(value) FILTER (WHERE kpi_code = 'meters_reporting_rate') AS mr,
           max(baseline) FILTER (WHERE kpi_code = 'electricity_kwh_school') AS es_b,
           max(baseline) FILTER (WHERE kpi_code = 'water_m3_school') AS ws_b,
           max(baseline) FILTER (WHERE kpi_code = 'utilities_conservation_saved_yuan') AS uc_b
    FROM mart.kpi_value
    WHERE grain = 'month' AND unit_code = 'campus'
      AND kpi_code IN ('electricity_kwh_billed', 'electricity_kwh_school', 'meters_reporting_rate', 'utilities_conservation_saved_yuan', 'utilities_recovered_yuan', 'utilities_saved_total_yuan', 'water_m3_billed', 'water_m3_school')
    GROUP BY period_start
)
SELECT m.period_start AS "月份",
       (m.es)::numeric(30, 2) AS "学校承担用电量（千瓦时）",
       (m.es_b)::numeric(30, 2) AS "基准用电量（千瓦时）",
       (m.es_b - m.es)::numeric(30, 2) AS "节约用电量（千瓦时）",
       ((m.es_b - m.es) / nullif(m.es_b, 0))::numeric(30, 6) AS "用电节约率",
       (m.ws)::numeric(30, 2) AS "学校承担用水量（立方米）",
       (m.ws_b)::numeric(30, 2) AS "基准用水量（立方米）",
       (m.ws_b - m.ws)::numeric(30, 2) AS "节约用水量（立方米）",
       ((m.ws_b - m.ws) / nullif(m.ws_b, 0))::numeric(30, 6) AS "用水节约率",
       (m.eb)::numeric(30, 2) AS "计费回收用电量（千瓦时）",
       (m.wb)::numeric(30, 2) AS "计费回收用水量（立方米）",
       (m.uc_b)::numeric(30, 2) AS "基准水电费（元）",
       (m.uc)::numeric(30, 2) AS "节约水电费（元）",
       (m.ur)::numeric(30, 2) AS "回收水电费（元）",
       (m.ut)::numeric(30, 2) AS "水电费节约合计（元）",
       (m.mr)::numeric(30, 6) AS "表计数据完整率",
       (m.ut - p.ut)::numeric(30, 2) AS "水电费节约合计环比增减（元）",
       (m.ut - y.ut)::numeric(30, 2) AS "水电费节约合计同比增减（元）",
       (m.es - y.es)::numeric(30, 2) AS "学校用电量同比增减（千瓦时）",
       (m.ws - y.ws)::numeric(30, 2) AS "学校用水量同比增减（立方米）"
FROM m m
LEFT JOIN m p ON p.period_start = (m.period_start - interval '1 month')::date
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date;
COMMENT ON VIEW mart.report_monthly_utilities IS '水电节约与回收月度报表 / Monthly report: Utilities: school-paid consumption against the pre-reform baseline, charges recovered; one row per month (campus). 同比 = against the same period a year earlier; 环比 = against the previous month; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_monthly_utilities."月份" IS '月份 / month (first day of the month)';
COMMENT ON COLUMN mart.report_monthly_utilities."学校承担用电量（千瓦时）" IS '学校承担用电量（千瓦时） / school-paid electricity, kWh (electricity_kwh_school)';
COMMENT ON COLUMN mart.report_monthly_utilities."基准用电量（千瓦时）" IS '基准用电量（千瓦时） / pre-reform baseline electricity for the same months, kWh (ref/utility_baseline.csv)';
COMMENT ON COLUMN mart.report_monthly_utilities."节约用电量（千瓦时）" IS '节约用电量（千瓦时） / electricity saved = baseline − school-paid, kWh';
COMMENT ON COLUMN mart.report_monthly_utilities."用电节约率" IS '用电节约率 / electricity saved ÷ baseline (fraction; negative when consumption rose)';
COMMENT ON COLUMN mart.report_monthly_utilities."学校承担用水量（立方米）" IS '学校承担用水量（立方米） / school-paid water, m³ (water_m3_school)';
COMMENT ON COLUMN mart.report_monthly_utilities."基准用水量（立方米）" IS '基准用水量（立方米） / pre-reform baseline water for the same months, m³';
COMMENT ON COLUMN mart.report_monthly_utilities."节约用水量（立方米）" IS '节约用水量（立方米） / water saved = baseline − school-paid, m³';
COMMENT ON COLUMN mart.report_monthly_utilities."用水节约率" IS '用水节约率 / water saved ÷ baseline (fraction)';
COMMENT ON COLUMN mart.report_monthly_utilities."计费回收用电量（千瓦时）" IS '计费回收用电量（千瓦时） / electricity billed to units and tenants, kWh (electricity_kwh_billed)';
COMMENT ON COLUMN mart.report_monthly_utilities."计费回收用水量（立方米）" IS '计费回收用水量（立方米） / water billed to units and tenants, m³ (water_m3_billed)';
COMMENT ON COLUMN mart.report_monthly_utilities."基准水电费（元）" IS '基准水电费（元） / baseline consumption priced at the month''s tariff, yuan (baseline of utilities_conservation_saved_yuan)';
COMMENT ON COLUMN mart.report_monthly_utilities."节约水电费（元）" IS '节约水电费（元） / utilities conservation saving, yuan (utilities_conservation_saved_yuan)';
COMMENT ON COLUMN mart.report_monthly_utilities."回收水电费（元）" IS '回收水电费（元） / utilities charges recovered, yuan (utilities_recovered_yuan)';
COMMENT ON COLUMN mart.report_monthly_utilities."水电费节约合计（元）" IS '水电费节约合计（元） / utilities saved in total, yuan (utilities_saved_total_yuan)';
COMMENT ON COLUMN mart.report_monthly_utilities."表计数据完整率" IS '表计数据完整率 / meter reporting rate (meters_reporting_rate, fraction)';
COMMENT ON COLUMN mart.report_monthly_utilities."水电费节约合计环比增减（元）" IS '水电费节约合计环比增减（元） / month-on-month change of utilities saved in total, yuan';
COMMENT ON COLUMN mart.report_monthly_utilities."水电费节约合计同比增减（元）" IS '水电费节约合计同比增减（元） / year-on-year change of utilities saved in total, yuan';
COMMENT ON COLUMN mart.report_monthly_utilities."学校用电量同比增减（千瓦时）" IS '学校用电量同比增减（千瓦时） / year-on-year change of school-paid electricity, kWh';
COMMENT ON COLUMN mart.report_monthly_utilities."学校用水量同比增减（立方米）" IS '学校用水量同比增减（立方米） / year-on-year change of school-paid water, m³';

-- 水电节约与回收（年度） / Utilities: school-paid consumption against the pre-reform baseline, charges recovered
CREATE VIEW mart.report_annual_utilities AS
WITH m AS (
    SELECT period_start,
           max(value) FILTER (WHERE kpi_code = 'electricity_kwh_school') AS es,
           max(value) FILTER (WHERE kpi_code = 'water_m3_school') AS ws,
           max(value) FILTER (WHERE kpi_code = 'electricity_kwh_billed') AS eb,
           max(value) FILTER (WHERE kpi_code = 'water_m3_billed') AS wb,
           max(value) FILTER (WHERE kpi_code = 'utilities_conservation_saved_yuan') AS uc,
           max(value) FILTER (WHERE kpi_code = 'utilities_recovered_yuan') AS ur,
           max(value) FILTER (WHERE kpi_code = 'utilities_saved_total_yuan') AS ut,
           max(value) FILTER (WHERE kpi_code = 'meters_reporting_rate') AS mr,
           max(baseline) FILTER (WHERE kpi_code = 'electricity_kwh_school') AS es_b,
           max(baseline) FILTER (WHERE kpi_code = 'water_m3_school') AS ws_b,
           max(baseline) FILTER (WHERE kpi_code = 'utilities_conservation_saved_yuan') AS uc_b
    FROM mart.kpi_value
    WHERE grain = 'year' AND unit_code = 'campus'
      AND kpi_code IN ('electricity_kwh_billed', 'electricity_kwh_school', 'meters_reporting_rate', 'utilities_conservation_saved_yuan', 'utilities_recovered_yuan', 'utilities_saved_total_yuan', 'water_m3_billed', 'water_m3_school')
    GROUP BY period_start
)
SELECT extract(year FROM m.period_start)::integer AS "年度",
       (m.es)::numeric(30, 2) AS "学校承担用电量（千瓦时）",
       (m.es_b)::numeric(30, 2) AS "基准用电量（千瓦时）",
       (m.es_b - m.es)::numeric(30, 2) AS "节约用电量（千瓦时）",
       ((m.es_b - m.es) / nullif(m.es_b, 0))::numeric(30, 6) AS "用电节约率",
       (m.ws)::numeric(30, 2) AS "学校承担用水量（立方米）",
       (m.ws_b)::numeric(30, 2) AS "基准用水量（立方米）",
       (m.ws_b - m.ws)::numeric(30, 2) AS "节约用水量（立方米）",
       ((m.ws_b - m.ws) / nullif(m.ws_b, 0))::numeric(30, 6) AS "用水节约率",
       (m.eb)::numeric(30, 2) AS "计费回收用电量（千瓦时）",
       (m.wb)::numeric(30, 2) AS "计费回收用水量（立方米）",
       (m.uc_b)::numeric(30, 2) AS "基准水电费（元）",
       (m.uc)::numeric(30, 2) AS "节约水电费（元）",
       (m.ur)::numeric(30, 2) AS "回收水电费（元）",
       (m.ut)::numeric(30, 2) AS "水电费节约合计（元）",
       (m.mr)::numeric(30, 6) AS "表计数据完整率",
       (m.ut - y.ut)::numeric(30, 2) AS "水电费节约合计同比增减（元）",
       (m.es - y.es)::numeric(30, 2) AS "学校用电量同比增减（千瓦时）",
       (m.ws - y.ws)::numeric(30, 2) AS "学校用水量同比增减（立方米）"
FROM m m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date;
COMMENT ON VIEW mart.report_annual_utilities IS '水电节约与回收年度报表 / Annual report: Utilities: school-paid consumption against the pre-reform baseline, charges recovered; one row per year (campus). 同比 = against the same period a year earlier; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_annual_utilities."年度" IS '年度 / year';
COMMENT ON COLUMN mart.report_annual_utilities."学校承担用电量（千瓦时）" IS '学校承担用电量（千瓦时） / school-paid electricity, kWh (electricity_kwh_school)';
COMMENT ON COLUMN mart.report_annual_utilities."基准用电量（千瓦时）" IS '基准用电量（千瓦时） / pre-reform baseline electricity for the same months, kWh (ref/utility_baseline.csv)';
COMMENT ON COLUMN mart.report_annual_utilities."节约用电量（千瓦时）" IS '节约用电量（千瓦时） / electricity saved = baseline − school-paid, kWh';
COMMENT ON COLUMN mart.report_annual_utilities."用电节约率" IS '用电节约率 / electricity saved ÷ baseline (fraction; negative when consumption rose)';
COMMENT ON COLUMN mart.report_annual_utilities."学校承担用水量（立方米）" IS '学校承担用水量（立方米） / school-paid water, m³ (water_m3_school)';
COMMENT ON COLUMN mart.report_annual_utilities."基准用水量（立方米）" IS '基准用水量（立方米） / pre-reform baseline water for the same months, m³';
COMMENT ON COLUMN mart.report_annual_utilities."节约用水量（立方米）" IS '节约用水量（立方米） / water saved = baseline − school-paid, m³';
COMMENT ON COLUMN mart.report_annual_utilities."用水节约率" IS '用水节约率 / water saved ÷ baseline (fraction)';
COMMENT ON COLUMN mart.report_annual_utilities."计费回收用电量（千瓦时）" IS '计费回收用电量（千瓦时） / electricity billed to units and tenants, kWh (electricity_kwh_billed)';
COMMENT ON COLUMN mart.report_annual_utilities."计费回收用水量（立方米）" IS '计费回收用水量（立方米） / water billed to units and tenants, m³ (water_m3_billed)';
COMMENT ON COLUMN mart.report_annual_utilities."基准水电费（元）" IS '基准水电费（元） / baseline consumption priced at the month''s tariff, yuan (baseline of utilities_conservation_saved_yuan)';
COMMENT ON COLUMN mart.report_annual_utilities."节约水电费（元）" IS '节约水电费（元） / utilities conservation saving, yuan (utilities_conservation_saved_yuan)';
COMMENT ON COLUMN mart.report_annual_utilities."回收水电费（元）" IS '回收水电费（元） / utilities charges recovered, yuan (utilities_recovered_yuan)';
COMMENT ON COLUMN mart.report_annual_utilities."水电费节约合计（元）" IS '水电费节约合计（元） / utilities saved in total, yuan (utilities_saved_total_yuan)';
COMMENT ON COLUMN mart.report_annual_utilities."表计数据完整率" IS '表计数据完整率 / meter reporting rate (meters_reporting_rate, fraction)';
COMMENT ON COLUMN mart.report_annual_utilities."水电费节约合计同比增减（元）" IS '水电费节约合计同比增减（元） / year-on-year change of utilities saved in total, yuan';
COMMENT ON COLUMN mart.report_annual_utilities."学校用电量同比增减（千瓦时）" IS '学校用电量同比增减（千瓦时） / year-on-year change of school-paid electricity, kWh';
COMMENT ON COLUMN mart.report_annual_utilities."学校用水量同比增减（立方米）" IS '学校用水量同比增减（立方米） / year-on-year change of school-paid water, m³';

-- 中心经营与社会资金（月度） / The centre's books: revenue, cost, surplus (积累), outside (social) capital and capex, per unit and campus
CREATE VIEW mart.report_monthly_centre_books AS
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
       (m.sc - y.sc)::numeric(30, 2) AS "社会资金同比增减（元）"
FROM m m
LEFT JOIN m p ON p.period_start = (m.period_start - interval '1 month')::date AND p.unit_code = m.unit_code
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code;
COMMENT ON VIEW mart.report_monthly_centre_books IS '中心经营与社会资金月度报表 / Monthly report: The centre''s books: revenue, cost, surplus (积累), outside (social) capital and capex, per unit and campus; one row per month and unit. 同比 = against the same period a year earlier; 环比 = against the previous month; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_monthly_centre_books."月份" IS '月份 / month (first day of the month)';
COMMENT ON COLUMN mart.report_monthly_centre_books."单位" IS '单位 / unit code: a sub-centre, office, or campus for the whole school';
COMMENT ON COLUMN mart.report_monthly_centre_books."中心收入（元）" IS '中心收入（元） / centre revenue, yuan (centre_revenue_yuan)';
COMMENT ON COLUMN mart.report_monthly_centre_books."中心支出（元）" IS '中心支出（元） / centre cost, yuan (centre_cost_yuan)';
COMMENT ON COLUMN mart.report_monthly_centre_books."中心积累资金（元）" IS '中心积累资金（元） / centre surplus = revenue − cost, yuan (centre_surplus_yuan); negative for a loss';
COMMENT ON COLUMN mart.report_monthly_centre_books."本年累计积累资金（元）" IS '本年累计积累资金（元） / centre surplus from January through this month, yuan';
COMMENT ON COLUMN mart.report_monthly_centre_books."引入社会资金（元）" IS '引入社会资金（元） / social (outside) capital brought in, yuan (social_capital_in_yuan)';
COMMENT ON COLUMN mart.report_monthly_centre_books."社会资金占比" IS '社会资金占比 / cumulative share of social capital in all capital brought in (social_capital_share, fraction)';
COMMENT ON COLUMN mart.report_monthly_centre_books."投资支出（元）" IS '投资支出（元） / capital expenditure, yuan (capex_yuan)';
COMMENT ON COLUMN mart.report_monthly_centre_books."积累资金环比增减（元）" IS '积累资金环比增减（元） / month-on-month change of the surplus, yuan';
COMMENT ON COLUMN mart.report_monthly_centre_books."积累资金同比增减（元）" IS '积累资金同比增减（元） / year-on-year change of the surplus, yuan';
COMMENT ON COLUMN mart.report_monthly_centre_books."社会资金同比增减（元）" IS '社会资金同比增减（元） / year-on-year change of social capital brought in, yuan';

-- 中心经营与社会资金（年度） / The centre's books: revenue, cost, surplus (积累), outside (social) capital and capex, per unit and campus
CREATE VIEW mart.report_annual_centre_books AS
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
       (m.sc - y.sc)::numeric(30, 2) AS "社会资金同比增减（元）"
FROM m m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code;
COMMENT ON VIEW mart.report_annual_centre_books IS '中心经营与社会资金年度报表 / Annual report: The centre''s books: revenue, cost, surplus (积累), outside (social) capital and capex, per unit and campus; one row per year and unit. 同比 = against the same period a year earlier; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_annual_centre_books."年度" IS '年度 / year';
COMMENT ON COLUMN mart.report_annual_centre_books."单位" IS '单位 / unit code: a sub-centre, office, or campus for the whole school';
COMMENT ON COLUMN mart.report_annual_centre_books."中心收入（元）" IS '中心收入（元） / centre revenue, yuan (centre_revenue_yuan)';
COMMENT ON COLUMN mart.report_annual_centre_books."中心支出（元）" IS '中心支出（元） / centre cost, yuan (centre_cost_yuan)';
COMMENT ON COLUMN mart.report_annual_centre_books."中心积累资金（元）" IS '中心积累资金（元） / centre surplus = revenue − cost, yuan (centre_surplus_yuan); negative for a loss';
COMMENT ON COLUMN mart.report_annual_centre_books."引入社会资金（元）" IS '引入社会资金（元） / social (outside) capital brought in, yuan (social_capital_in_yuan)';
COMMENT ON COLUMN mart.report_annual_centre_books."社会资金占比" IS '社会资金占比 / cumulative share of social capital in all capital brought in (social_capital_share, fraction)';
COMMENT ON COLUMN mart.report_annual_centre_books."投资支出（元）" IS '投资支出（元） / capital expenditure, yuan (capex_yuan)';
COMMENT ON COLUMN mart.report_annual_centre_books."积累资金同比增减（元）" IS '积累资金同比增减（元） / year-on-year change of the surplus, yuan';
COMMENT ON COLUMN mart.report_annual_centre_books."社会资金同比增减（元）" IS '社会资金同比增减（元） / year-on-year change of social capital brought in, yuan';

-- 服务标准（月度） / Service standards (有叫必到、限时维护): work orders and on-time rates per responsible unit and campus
CREATE VIEW mart.report_monthly_service AS
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
       (m.n - y.n)::integer AS "完成工单数同比增减"
FROM m m
LEFT JOIN m p ON p.period_start = (m.period_start - interval '1 month')::date AND p.unit_code = m.unit_code
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code;
COMMENT ON VIEW mart.report_monthly_service IS '服务标准月度报表 / Monthly report: Service standards (有叫必到、限时维护): work orders and on-time rates per responsible unit and campus; one row per month and unit. 同比 = against the same period a year earlier; 环比 = against the previous month; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_monthly_service."月份" IS '月份 / month (first day of the month)';
COMMENT ON COLUMN mart.report_monthly_service."单位" IS '单位 / unit code: a sub-centre, office, or campus for the whole school';
COMMENT ON COLUMN mart.report_monthly_service."完成工单数" IS '完成工单数 / work orders completed (work_orders_completed)';
COMMENT ON COLUMN mart.report_monthly_service."响应及时率" IS '响应及时率 / response on-time rate (response_on_time_rate, fraction)';
COMMENT ON COLUMN mart.report_monthly_service."维修及时率" IS '维修及时率 / repair on-time rate, 限时维护达标率 (repair_on_time_rate, fraction)';
COMMENT ON COLUMN mart.report_monthly_service."一次修复率" IS '一次修复率 / first-time fix rate (first_time_fix_rate, fraction)';
COMMENT ON COLUMN mart.report_monthly_service."报修评价均分" IS '报修评价均分 / average repair rating 1–5 (repair_rating_avg)';
COMMENT ON COLUMN mart.report_monthly_service."未完成工单数" IS '未完成工单数 / work orders open at the period''s end (work_orders_open)';
COMMENT ON COLUMN mart.report_monthly_service."维修及时率环比增减" IS '维修及时率环比增减 / month-on-month change of the repair on-time rate (fraction points)';
COMMENT ON COLUMN mart.report_monthly_service."维修及时率同比增减" IS '维修及时率同比增减 / year-on-year change of the repair on-time rate (fraction points)';
COMMENT ON COLUMN mart.report_monthly_service."完成工单数同比增减" IS '完成工单数同比增减 / year-on-year change of work orders completed';

-- 服务标准（年度） / Service standards (有叫必到、限时维护): work orders and on-time rates per responsible unit and campus
CREATE VIEW mart.report_annual_service AS
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
       (m.n - y.n)::integer AS "完成工单数同比增减"
FROM m m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code;
COMMENT ON VIEW mart.report_annual_service IS '服务标准年度报表 / Annual report: Service standards (有叫必到、限时维护): work orders and on-time rates per responsible unit and campus; one row per year and unit. 同比 = against the same period a year earlier; money in yuan, rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_annual_service."年度" IS '年度 / year';
COMMENT ON COLUMN mart.report_annual_service."单位" IS '单位 / unit code: a sub-centre, office, or campus for the whole school';
COMMENT ON COLUMN mart.report_annual_service."完成工单数" IS '完成工单数 / work orders completed (work_orders_completed)';
COMMENT ON COLUMN mart.report_annual_service."响应及时率" IS '响应及时率 / response on-time rate (response_on_time_rate, fraction)';
COMMENT ON COLUMN mart.report_annual_service."维修及时率" IS '维修及时率 / repair on-time rate, 限时维护达标率 (repair_on_time_rate, fraction)';
COMMENT ON COLUMN mart.report_annual_service."一次修复率" IS '一次修复率 / first-time fix rate (first_time_fix_rate, fraction)';
COMMENT ON COLUMN mart.report_annual_service."报修评价均分" IS '报修评价均分 / average repair rating 1–5 (repair_rating_avg)';
COMMENT ON COLUMN mart.report_annual_service."未完成工单数" IS '未完成工单数 / work orders open at the period''s end (work_orders_open)';
COMMENT ON COLUMN mart.report_annual_service."维修及时率同比增减" IS '维修及时率同比增减 / year-on-year change of the repair on-time rate (fraction points)';
COMMENT ON COLUMN mart.report_annual_service."完成工单数同比增减" IS '完成工单数同比增减 / year-on-year change of work orders completed';

-- 满意度（月度） / Satisfaction survey waves held in the month, per unit and campus
CREATE VIEW mart.report_monthly_satisfaction AS
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
       (w.rate - lag(w.rate) OVER (PARTITION BY w.unit_code ORDER BY w.period_start))::numeric(30, 6) AS "满意率较上次调查增减"
FROM w;
COMMENT ON VIEW mart.report_monthly_satisfaction IS '满意度月度报表 / Monthly report: satisfaction survey waves held in the month, one row per wave and unit (campus = all answered cells); rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_monthly_satisfaction."月份" IS '月份 / month of the survey wave (first day of the month)';
COMMENT ON COLUMN mart.report_monthly_satisfaction."调查日期" IS '调查日期 / survey wave date';
COMMENT ON COLUMN mart.report_monthly_satisfaction."单位" IS '单位 / unit code: a sub-centre, or campus for the whole school';
COMMENT ON COLUMN mart.report_monthly_satisfaction."满意率" IS '满意率 / satisfaction rate = (非常满意 + 满意) ÷ answered (satisfaction_rate, fraction)';
COMMENT ON COLUMN mart.report_monthly_satisfaction."有效答卷数" IS '有效答卷数 / answered survey cells (satisfaction_responses)';
COMMENT ON COLUMN mart.report_monthly_satisfaction."满意率较上次调查增减" IS '满意率较上次调查增减 / change of the satisfaction rate against the unit''s previous wave (fraction points)';

-- 满意度（年度） / Satisfaction per year, recomputed over all answered cells of the year's waves
CREATE VIEW mart.report_annual_satisfaction AS
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
       (m.rate - y.rate)::numeric(30, 6) AS "满意率同比增减"
FROM m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date AND y.unit_code = m.unit_code;
COMMENT ON VIEW mart.report_annual_satisfaction IS '满意度年度报表 / Annual report: satisfaction per year and unit, recomputed over all answered cells of the year''s waves (never an average of wave rates). 同比 = against the previous year; rates as fractions 0–1.';
COMMENT ON COLUMN mart.report_annual_satisfaction."年度" IS '年度 / year';
COMMENT ON COLUMN mart.report_annual_satisfaction."单位" IS '单位 / unit code: a sub-centre, or campus for the whole school';
COMMENT ON COLUMN mart.report_annual_satisfaction."满意率" IS '满意率 / satisfaction rate over the year''s waves (satisfaction_rate, fraction)';
COMMENT ON COLUMN mart.report_annual_satisfaction."有效答卷数" IS '有效答卷数 / answered survey cells in the year (satisfaction_responses)';
COMMENT ON COLUMN mart.report_annual_satisfaction."满意率同比增减" IS '满意率同比增减 / year-on-year change of the satisfaction rate (fraction points)';

-- Views are tables to GRANT and to default privileges; grant explicitly too, in case the
-- migrating role differs from the one that set the default privileges.
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO finance_reader;
