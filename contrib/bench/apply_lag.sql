-- apply_bench.sh workload "lag": a TPC-B-like transaction on rows that
-- belong to one node only (pgbench -D node=N -D naccounts=M), so that two
-- mmr nodes writing at the same time never touch the same row: one UPDATE
-- of lag_accounts (key (node, id)) and one INSERT into lag_history (key
-- (node, hid), hid from the local sequence).
\set id random(1, :naccounts)
\set delta random(-5000, 5000)
BEGIN;
UPDATE lag_accounts SET balance = balance + :delta, mtime = now()
  WHERE node = :node AND id = :id;
INSERT INTO lag_history (node, id, delta, mtime)
  VALUES (:node, :id, :delta, now());
END;
