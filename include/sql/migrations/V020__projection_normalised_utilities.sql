-- Year-end projections (预计全年) of flow KPIs, and utilities savings normalised for enrolment and
-- weather. Daily mean temperatures (ref/temperature.csv) land in core.temperature; the adjusted
-- baselines the two new utilities KPIs price are kept per month and utility in
-- mart.utility_baseline_adjusted, so a reader can see what each method assumed.

CREATE TABLE core.temperature (
    day          date PRIMARY KEY,
    mean_temp_c  numeric(5, 2) NOT NULL CHECK (mean_temp_c BETWEEN -60 AND 60)
);
COMMENT ON TABLE core.temperature IS '日平均气温 / Daily mean outdoor temperature from ref/temperature.csv (°C), for the degree-day adjustment of the utilities baseline';

CREATE TABLE mart.utility_baseline_adjusted (
    month               date NOT NULL,
    utility             text NOT NULL CHECK (utility IN ('electricity', 'water')),
    baseline_qty        numeric NOT NULL,
    students            integer,
    baseline_students   numeric,
    per_student_qty     numeric,
    degree_days         numeric,
    fit_intercept       numeric,
    fit_slope           numeric,
    weather_qty         numeric,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    run_id              text,
    PRIMARY KEY (month, utility)
);
COMMENT ON TABLE mart.utility_baseline_adjusted IS '水电基准调整 / Utilities baseline per reporting month and utility: the calendar-month baseline, scaled by enrolment, and adjusted for weather by degree days (a + b·DD fitted over the baseline year); empty columns = that method not computable';
COMMENT ON COLUMN mart.utility_baseline_adjusted.month IS '月份 / reporting month (first day)';
COMMENT ON COLUMN mart.utility_baseline_adjusted.utility IS '能源类别 / utility: electricity or water';
COMMENT ON COLUMN mart.utility_baseline_adjusted.baseline_qty IS '基准用量 / calendar-month baseline quantity from ref/utility_baseline.csv (kWh or m³)';
COMMENT ON COLUMN mart.utility_baseline_adjusted.students IS '本月在校生 / students enrolled this month (ref/enrolment.csv)';
COMMENT ON COLUMN mart.utility_baseline_adjusted.baseline_students IS '基准年在校生 / students in the baseline period (baselines.csv utility_baseline_students)';
COMMENT ON COLUMN mart.utility_baseline_adjusted.per_student_qty IS '按在校生折算基准用量 / baseline quantity × students ÷ baseline students';
COMMENT ON COLUMN mart.utility_baseline_adjusted.degree_days IS '度日数 / degree days of the reporting month: Σ max(0, 18 − t) + Σ max(0, t − 26) over its days (°C·day)';
COMMENT ON COLUMN mart.utility_baseline_adjusted.fit_intercept IS '回归截距 a / intercept a of baseline quantity = a + b·degree days, least squares over the baseline year''s 12 months';
COMMENT ON COLUMN mart.utility_baseline_adjusted.fit_slope IS '回归斜率 b / slope b (quantity per degree day) of the same fit';
COMMENT ON COLUMN mart.utility_baseline_adjusted.weather_qty IS '按气温调整基准用量 / weather-adjusted baseline quantity = a + b·degree days of the reporting month';
COMMENT ON COLUMN mart.utility_baseline_adjusted.computed_at IS '计算时间 / when the row was computed';
COMMENT ON COLUMN mart.utility_baseline_adjusted.run_id IS '运行标识 / run that computed the row';

CREATE TABLE mart.kpi_projection (
    kpi_code       text NOT NULL,
    unit_code      text NOT NULL,
    year           integer NOT NULL,
    as_of_month    date NOT NULL,
    months_actual  smallint NOT NULL CHECK (months_actual BETWEEN 1 AND 12),
    ytd            numeric NOT NULL,
    projected      numeric NOT NULL,
    low            numeric,
    high           numeric,
    method         text NOT NULL CHECK (method IN ('seasonal', 'run_rate')),
    method_note    text,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    run_id         text,
    PRIMARY KEY (kpi_code, unit_code, year, as_of_month)
);
COMMENT ON TABLE mart.kpi_projection IS '预计全年 / Year-end projection of flow KPIs as of each month-end: year-to-date actual + forecast of the remaining months (seasonal from the prior year, or the run rate of the months elapsed), with an 80% prediction interval';
COMMENT ON COLUMN mart.kpi_projection.kpi_code IS '指标代码 / KPI code (a flow KPI the catalog declares projected)';
COMMENT ON COLUMN mart.kpi_projection.unit_code IS '单位代码 / unit code (mart.unit.code)';
COMMENT ON COLUMN mart.kpi_projection.year IS '年度 / year projected';
COMMENT ON COLUMN mart.kpi_projection.as_of_month IS '截至月份 / the projection is as of this month''s end (first day of the month)';
COMMENT ON COLUMN mart.kpi_projection.months_actual IS '已有实际月数 / months of the year through as_of_month that have a value';
COMMENT ON COLUMN mart.kpi_projection.ytd IS '本年累计 / year to date: Σ the monthly values through as_of_month';
COMMENT ON COLUMN mart.kpi_projection.projected IS '预计全年 / projected year total = year to date + forecast of the months without a value';
COMMENT ON COLUMN mart.kpi_projection.low IS '预测区间下限 / lower end of the 80% prediction interval of the year total (empty with fewer than 2 months)';
COMMENT ON COLUMN mart.kpi_projection.high IS '预测区间上限 / upper end of the 80% prediction interval of the year total';
COMMENT ON COLUMN mart.kpi_projection.method IS '预测方法 / method: seasonal (按上年季节性: the prior year''s shares of the months) or run_rate (按已过月份平均: mean of the months elapsed)';
COMMENT ON COLUMN mart.kpi_projection.method_note IS '方法说明 / why the run rate was used when the prior year was complete (seasonal not computable), in Chinese';
COMMENT ON COLUMN mart.kpi_projection.computed_at IS '计算时间 / when the row was computed';
COMMENT ON COLUMN mart.kpi_projection.run_id IS '运行标识 / run that computed the row';

-- 预计全年 / Year-end projections with Chinese labels, for the annual report and finance_reader
CREATE VIEW mart.report_kpi_projection AS
SELECT p.year AS "年度",
       p.as_of_month AS "截至月份",
       p.kpi_code AS "指标代码",
       coalesce(d.name_zh, p.kpi_code) AS "指标名称",
       p.unit_code AS "单位",
       coalesce(u.name_zh, p.unit_code) AS "单位名称",
       p.months_actual::integer AS "已有实际月数",
       (p.ytd)::numeric(30, 2) AS "本年累计（元）",
       (p.projected)::numeric(30, 2) AS "预计全年（元）",
       (p.low)::numeric(30, 2) AS "预测区间下限（元）",
       (p.high)::numeric(30, 2) AS "预测区间上限（元）",
       CASE p.method WHEN 'seasonal' THEN '按上年季节性' ELSE '按已过月份平均' END AS "预测方法",
       p.method_note AS "方法说明",
       (y.value)::numeric(30, 2) AS "全年实际（元）"
FROM mart.kpi_projection p
LEFT JOIN mart.kpi_definition d ON d.kpi_code = p.kpi_code
LEFT JOIN mart.unit u ON u.code = p.unit_code
LEFT JOIN mart.kpi_value y ON y.kpi_code = p.kpi_code AND y.unit_code = p.unit_code AND y.grain = 'year'
                          AND y.period_start = make_date(p.year, 1, 1);
COMMENT ON VIEW mart.report_kpi_projection IS '预计全年报表 / Report: year-end projections of flow KPIs as of each month-end, beside the year''s actual; money in yuan.';
COMMENT ON COLUMN mart.report_kpi_projection."年度" IS '年度 / year';
COMMENT ON COLUMN mart.report_kpi_projection."截至月份" IS '截至月份 / projected as of this month''s end (first day of the month)';
COMMENT ON COLUMN mart.report_kpi_projection."指标代码" IS '指标代码 / KPI code';
COMMENT ON COLUMN mart.report_kpi_projection."指标名称" IS '指标名称 / KPI name in Chinese';
COMMENT ON COLUMN mart.report_kpi_projection."单位" IS '单位 / unit code';
COMMENT ON COLUMN mart.report_kpi_projection."单位名称" IS '单位名称 / unit name in Chinese';
COMMENT ON COLUMN mart.report_kpi_projection."已有实际月数" IS '已有实际月数 / months with a value through the as-of month';
COMMENT ON COLUMN mart.report_kpi_projection."本年累计（元）" IS '本年累计（元） / year to date, yuan';
COMMENT ON COLUMN mart.report_kpi_projection."预计全年（元）" IS '预计全年（元） / projected year total, yuan';
COMMENT ON COLUMN mart.report_kpi_projection."预测区间下限（元）" IS '预测区间下限（元） / lower end of the 80% prediction interval, yuan';
COMMENT ON COLUMN mart.report_kpi_projection."预测区间上限（元）" IS '预测区间上限（元） / upper end of the 80% prediction interval, yuan';
COMMENT ON COLUMN mart.report_kpi_projection."预测方法" IS '预测方法 / method: 按上年季节性 (seasonal, prior year''s monthly shares) or 按已过月份平均 (run rate of the months elapsed)';
COMMENT ON COLUMN mart.report_kpi_projection."方法说明" IS '方法说明 / why the run rate replaced a seasonal projection, when it did';
COMMENT ON COLUMN mart.report_kpi_projection."全年实际（元）" IS '全年实际（元） / the year''s actual so far (Σ of the months loaded), yuan, for comparison';

CREATE OR REPLACE VIEW mart.report_monthly_utilities AS
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
           max(baseline) FILTER (WHERE kpi_code = 'utilities_conservation_saved_yuan') AS uc_b,
           max(value) FILTER (WHERE kpi_code = 'utilities_conservation_saved_per_student_yuan') AS ucs,
           max(baseline) FILTER (WHERE kpi_code = 'utilities_conservation_saved_per_student_yuan') AS ucs_b,
           max(value) FILTER (WHERE kpi_code = 'utilities_conservation_saved_weather_yuan') AS ucw,
           max(baseline) FILTER (WHERE kpi_code = 'utilities_conservation_saved_weather_yuan') AS ucw_b
    FROM mart.kpi_value
    WHERE grain = 'month' AND unit_code = 'campus'
      AND kpi_code IN ('electricity_kwh_billed', 'electricity_kwh_school', 'meters_reporting_rate', 'utilities_conservation_saved_per_student_yuan', 'utilities_conservation_saved_weather_yuan', 'utilities_conservation_saved_yuan', 'utilities_recovered_yuan', 'utilities_saved_total_yuan', 'water_m3_billed', 'water_m3_school')
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
       (m.ws - y.ws)::numeric(30, 2) AS "学校用水量同比增减（立方米）",
       (m.ucs_b)::numeric(30, 2) AS "按在校生折算基准水电费（元）",
       (m.ucs)::numeric(30, 2) AS "按在校生折算节约水电费（元）",
       (m.ucw_b)::numeric(30, 2) AS "按气温调整基准水电费（元）",
       (m.ucw)::numeric(30, 2) AS "按气温调整节约水电费（元）"
FROM m m
LEFT JOIN m p ON p.period_start = (m.period_start - interval '1 month')::date
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date;

COMMENT ON COLUMN mart.report_monthly_utilities."按在校生折算基准水电费（元）" IS '按在校生折算基准水电费（元） / baseline scaled by students enrolled ÷ baseline students, priced at the month''s first-day tariff, yuan (baseline of utilities_conservation_saved_per_student_yuan)';
COMMENT ON COLUMN mart.report_monthly_utilities."按在校生折算节约水电费（元）" IS '按在校生折算节约水电费（元） / enrolment-normalised conservation saving, yuan (utilities_conservation_saved_per_student_yuan); empty without utility_baseline_students';
COMMENT ON COLUMN mart.report_monthly_utilities."按气温调整基准水电费（元）" IS '按气温调整基准水电费（元） / degree-day-adjusted baseline (a + b·degree days, fitted over the baseline year) priced at the month''s first-day tariff, yuan (baseline of utilities_conservation_saved_weather_yuan)';
COMMENT ON COLUMN mart.report_monthly_utilities."按气温调整节约水电费（元）" IS '按气温调整节约水电费（元） / weather-adjusted conservation saving, yuan (utilities_conservation_saved_weather_yuan); empty without temperature.csv and utility_baseline_year';

CREATE OR REPLACE VIEW mart.report_annual_utilities AS
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
           max(baseline) FILTER (WHERE kpi_code = 'utilities_conservation_saved_yuan') AS uc_b,
           max(value) FILTER (WHERE kpi_code = 'utilities_conservation_saved_per_student_yuan') AS ucs,
           max(baseline) FILTER (WHERE kpi_code = 'utilities_conservation_saved_per_student_yuan') AS ucs_b,
           max(value) FILTER (WHERE kpi_code = 'utilities_conservation_saved_weather_yuan') AS ucw,
           max(baseline) FILTER (WHERE kpi_code = 'utilities_conservation_saved_weather_yuan') AS ucw_b
    FROM mart.kpi_value
    WHERE grain = 'year' AND unit_code = 'campus'
      AND kpi_code IN ('electricity_kwh_billed', 'electricity_kwh_school', 'meters_reporting_rate', 'utilities_conservation_saved_per_student_yuan', 'utilities_conservation_saved_weather_yuan', 'utilities_conservation_saved_yuan', 'utilities_recovered_yuan', 'utilities_saved_total_yuan', 'water_m3_billed', 'water_m3_school')
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
       (m.ws - y.ws)::numeric(30, 2) AS "学校用水量同比增减（立方米）",
       (m.ucs_b)::numeric(30, 2) AS "按在校生折算基准水电费（元）",
       (m.ucs)::numeric(30, 2) AS "按在校生折算节约水电费（元）",
       (m.ucw_b)::numeric(30, 2) AS "按气温调整基准水电费（元）",
       (m.ucw)::numeric(30, 2) AS "按气温调整节约水电费（元）"
FROM m m
LEFT JOIN m y ON y.period_start = (m.period_start - interval '1 year')::date;

COMMENT ON COLUMN mart.report_annual_utilities."按在校生折算基准水电费（元）" IS '按在校生折算基准水电费（元） / baseline scaled by students enrolled ÷ baseline students, priced at the month''s first-day tariff, yuan (baseline of utilities_conservation_saved_per_student_yuan)';
COMMENT ON COLUMN mart.report_annual_utilities."按在校生折算节约水电费（元）" IS '按在校生折算节约水电费（元） / enrolment-normalised conservation saving, yuan (utilities_conservation_saved_per_student_yuan); empty without utility_baseline_students';
COMMENT ON COLUMN mart.report_annual_utilities."按气温调整基准水电费（元）" IS '按气温调整基准水电费（元） / degree-day-adjusted baseline (a + b·degree days, fitted over the baseline year) priced at the month''s first-day tariff, yuan (baseline of utilities_conservation_saved_weather_yuan)';
COMMENT ON COLUMN mart.report_annual_utilities."按气温调整节约水电费（元）" IS '按气温调整节约水电费（元） / weather-adjusted conservation saving, yuan (utilities_conservation_saved_weather_yuan); empty without temperature.csv and utility_baseline_year';

-- Views are tables to GRANT; grant explicitly too, as V013 and V015 do.
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO finance_reader;
