-- mart.canteen_outlet_meal rows for the touched days, from _canteen_eff (see canteen_effective.sql).
-- Meal periods by the original purchase's time: breakfast < 10:00, lunch 10–14, dinner 14–20, night ≥ 20.
SELECT day, unit_code, outlet_code,
       CASE WHEN hour < 10 THEN 'breakfast' WHEN hour < 14 THEN 'lunch'
            WHEN hour < 20 THEN 'dinner' ELSE 'night' END AS meal_period,
       sum(amount_yuan) AS revenue_yuan,
       count(*) FILTER (WHERE kept) AS transactions,
       count(DISTINCT card_hash) FILTER (WHERE kept) AS diners
FROM _canteen_eff GROUP BY 1, 2, 3, 4
