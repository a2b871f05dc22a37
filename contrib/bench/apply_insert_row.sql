-- apply_bench.sh workload "inserts": one single-row INSERT per transaction
-- into bench_rows (int PK, text, numeric, timestamptz).
\set n random(1, 1000000000)
INSERT INTO bench_rows (name, amount, created)
  VALUES ('customer-' || :n::text, :n::numeric / 100, now());
