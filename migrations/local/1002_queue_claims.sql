-- A delivery's handle names its claim, not its delivery count: `claims`
-- grows on every hand-out and, unlike `deliveries`, is not reset when a
-- retry reuses the row. So a worker that lost its claim can never settle a
-- later attempt that happens to reach the same delivery count.
ALTER TABLE local_queue ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
