-- Canteen KPIs for one grain (day | month | year) and the period starts in %(periods)s.
-- Reversals and refunds count on their original purchase's day and outlet; a reversed purchase
-- counts neither as revenue nor as a transaction. Rows: kpi_code, unit_code, period_start, value, baseline.
WITH touched AS (          -- facts of the periods' days, plus reversals/refunds of their purchases
    SELECT t.* FROM core.canteen_txn t
    WHERE t.txn_date >= %(lo)s AND t.txn_date < %(hi)s
    UNION
    SELECT r.* FROM core.canteen_txn r
    JOIN core.canteen_txn o ON o.txn_id = r.orig_txn_id
    WHERE r.orig_txn_id IS NOT NULL AND o.txn_date >= %(lo)s AND o.txn_date < %(hi)s
),
eff AS (                   -- each row on its effective (original's) day and unit
    SELECT t.txn_id, t.txn_type, t.amount_yuan, t.card_hash, t.holder_type,
           COALESCE(o.txn_date, t.txn_date) AS day,
           COALESCE(o.unit_code, t.unit_code) AS unit_code
    FROM touched t
    LEFT JOIN core.canteen_txn o ON t.txn_type <> 'purchase' AND o.txn_id = t.orig_txn_id
),
reversed AS (
    SELECT DISTINCT orig_txn_id AS txn_id FROM core.canteen_txn
    WHERE txn_type = 'reversal' AND orig_txn_id IN (SELECT txn_id FROM eff WHERE txn_type = 'purchase')
),
kept AS (                  -- purchases that count as transactions
    SELECT e.* FROM eff e WHERE e.txn_type = 'purchase' AND e.txn_id NOT IN (SELECT txn_id FROM reversed)
),
daily AS (
    SELECT d.day, COALESCE(d.unit_code, 'campus') AS unit_code,
           d.revenue, COALESCE(k.transactions, 0) AS transactions, COALESCE(k.diners, 0) AS diners,
           COALESCE(k.student_diners, 0) AS student_diners
    FROM (SELECT day, unit_code, sum(amount_yuan) AS revenue FROM eff
          WHERE day >= %(lo)s AND day < %(hi)s GROUP BY GROUPING SETS ((day, unit_code), (day))) d
    LEFT JOIN (SELECT day, unit_code, count(*) AS transactions, count(DISTINCT card_hash) AS diners,
                      count(DISTINCT card_hash) FILTER (WHERE holder_type = 'student') AS student_diners
               FROM kept GROUP BY GROUPING SETS ((day, unit_code), (day))) k
      ON k.day = d.day AND k.unit_code IS NOT DISTINCT FROM d.unit_code
),
with_students AS (
    SELECT d.*, e.students,
           date_trunc(%(grain)s, d.day)::date AS period_start
    FROM daily d LEFT JOIN core.enrolment e ON e.month = date_trunc('month', d.day)::date
),
per_period AS (
    SELECT period_start, unit_code,
           sum(revenue) AS revenue, sum(transactions) AS transactions,
           avg(diners) AS diners,
           avg(student_diners::numeric / NULLIF(students, 0)) AS capture_rate
    FROM with_students
    WHERE period_start = ANY(%(periods)s)
    GROUP BY period_start, unit_code
)
SELECT 'canteen_revenue_yuan', unit_code, period_start, revenue, NULL::numeric FROM per_period
UNION ALL SELECT 'canteen_transactions', unit_code, period_start, transactions, NULL FROM per_period
UNION ALL SELECT 'canteen_avg_ticket_yuan', unit_code, period_start, revenue / NULLIF(transactions, 0), NULL
          FROM per_period WHERE transactions > 0
UNION ALL SELECT 'canteen_diners', unit_code, period_start, diners, NULL FROM per_period
UNION ALL SELECT 'canteen_capture_rate', unit_code, period_start, capture_rate, NULL
          FROM per_period WHERE capture_rate IS NOT NULL
