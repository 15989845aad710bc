-- Canteen KPIs are computed from exact daily aggregates, refreshed only for the days a load touched;
-- months and years are then sums and means of these rows instead of rescans of every transaction.
CREATE TABLE mart.canteen_daily (
    day             date NOT NULL,
    unit_code       text NOT NULL,            -- an outlet's unit, or 'campus'
    revenue_yuan    numeric(14, 2) NOT NULL,  -- purchases − reversals − refunds, on the original's day
    transactions    bigint NOT NULL,          -- purchases not reversed
    diners          bigint NOT NULL,          -- distinct cards with a purchase not reversed
    student_diners  bigint NOT NULL,          -- of those, student cards
    students        integer,                  -- enrolled that month (ref/enrolment.csv), NULL if unknown
    computed_at     timestamptz NOT NULL DEFAULT now(),
    run_id          text,
    PRIMARY KEY (day, unit_code)
);
COMMENT ON TABLE mart.canteen_daily IS '食堂日汇总 / Canteen daily aggregates per unit and campus (exact counts behind the canteen KPIs)';
COMMENT ON COLUMN mart.canteen_daily.revenue_yuan IS '营业额(元) / revenue in yuan, net of reversals and refunds';
COMMENT ON COLUMN mart.canteen_daily.transactions IS '消费笔数 / purchases not reversed';
COMMENT ON COLUMN mart.canteen_daily.diners IS '就餐人数 / distinct cards with a purchase';
COMMENT ON COLUMN mart.canteen_daily.student_diners IS '学生就餐人数 / distinct student cards with a purchase';
COMMENT ON COLUMN mart.canteen_daily.students IS '在校学生数 / students enrolled that month';
CREATE INDEX canteen_txn_type_orig_idx ON core.canteen_txn (orig_txn_id, txn_type) WHERE orig_txn_id IS NOT NULL;
