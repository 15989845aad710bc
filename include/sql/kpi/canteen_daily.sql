-- mart.canteen_daily rows for the touched days, from _canteen_eff (see canteen_effective.sql).
SELECT d.day, COALESCE(d.unit_code, 'campus') AS unit_code, d.revenue,
       COALESCE(k.transactions, 0), COALESCE(k.diners, 0), COALESCE(k.student_diners, 0), e.students
FROM (SELECT day, unit_code, sum(amount_yuan) AS revenue FROM _canteen_eff
      GROUP BY GROUPING SETS ((day, unit_code), (day))) d
LEFT JOIN (SELECT day, unit_code, count(*) AS transactions, count(DISTINCT card_hash) AS diners,
                  count(DISTINCT card_hash) FILTER (WHERE holder_type = 'student') AS student_diners
           FROM _canteen_eff WHERE kept GROUP BY GROUPING SETS ((day, unit_code), (day))) k
  ON k.day = d.day AND k.unit_code IS NOT DISTINCT FROM d.unit_code
LEFT JOIN core.enrolment e ON e.month = date_trunc('month', d.day)::date
