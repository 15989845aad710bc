-- The centre's books, grain 'month' or 'year', per unit and 'campus' (campus = every ledger line).
-- Flows (revenue, cost, surplus, social capital, capex) are stored per month; their annual rows are
-- rolled up from the months, so at grain 'year' only social_capital_share is kept from here.
-- social_capital_share is cumulative since the first month loaded, through the period's end
-- (month: the month itself; year: the year's end = the year's last loaded month), computed only
-- for periods that have ledger lines, and absent while the cumulative capital_in is 0.
-- Rows: kpi_code, unit_code, period_start, value, baseline.
WITH periods AS (
    SELECT p AS period_start,
           (p + CASE WHEN %(grain)s = 'year' THEN interval '1 year' ELSE interval '1 month' END)::date AS period_end
    FROM unnest(%(periods)s::date[]) AS p
),
loaded AS (            -- periods with at least one ledger line
    SELECT p.* FROM periods p
    WHERE EXISTS (SELECT 1 FROM core.ledger_line l WHERE l.month >= p.period_start AND l.month < p.period_end)
),
lines AS (
    SELECT p.period_start, l.unit_code, l.entry_type, l.funding_source, l.amount_yuan
    FROM core.ledger_line l
    JOIN loaded p ON l.month >= p.period_start AND l.month < p.period_end
    WHERE l.month >= %(lo)s AND l.month < %(hi)s
),
flows AS (
    SELECT period_start, COALESCE(unit_code, 'campus') AS unit_code,
           COALESCE(sum(amount_yuan) FILTER (WHERE entry_type = 'revenue'), 0) AS revenue,
           COALESCE(sum(amount_yuan) FILTER (WHERE entry_type = 'cost'), 0) AS cost,
           COALESCE(sum(amount_yuan) FILTER (WHERE entry_type = 'capital_in' AND funding_source = 'social'), 0)
               AS social_capital,
           COALESCE(sum(amount_yuan) FILTER (WHERE entry_type = 'capex'), 0) AS capex
    FROM lines
    GROUP BY GROUPING SETS ((period_start, unit_code), (period_start))
),
cumulative AS (        -- every capital_in from the first loaded month through the period's end
    SELECT p.period_start, COALESCE(l.unit_code, 'campus') AS unit_code,
           COALESCE(sum(l.amount_yuan) FILTER (WHERE l.funding_source = 'social'), 0) AS social,
           sum(l.amount_yuan) AS total
    FROM loaded p
    JOIN core.ledger_line l ON l.entry_type = 'capital_in' AND l.month < p.period_end
    GROUP BY GROUPING SETS ((p.period_start, l.unit_code), (p.period_start))
)
SELECT 'centre_revenue_yuan', unit_code, period_start, revenue, NULL::numeric FROM flows
UNION ALL SELECT 'centre_cost_yuan', unit_code, period_start, cost, NULL FROM flows
UNION ALL SELECT 'centre_surplus_yuan', unit_code, period_start, revenue - cost, NULL FROM flows
UNION ALL SELECT 'social_capital_in_yuan', unit_code, period_start, social_capital, NULL FROM flows
UNION ALL SELECT 'capex_yuan', unit_code, period_start, capex, NULL FROM flows
UNION ALL SELECT 'social_capital_share', unit_code, period_start, social / total, NULL
          FROM cumulative WHERE total > 0
