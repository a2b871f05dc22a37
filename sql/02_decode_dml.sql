-- INSERT, UPDATE, DELETE of many types, as the output plugin sends them.
SELECT 'init' FROM pg_create_logical_replication_slot('regress_dml', 'mmr');

CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE types (
    id integer PRIMARY KEY,
    t text,
    n numeric(12,3),
    j jsonb,
    b bytea,
    a integer[],
    ts timestamptz,
    f float8,
    bo boolean,
    m mood
);

INSERT INTO types VALUES
  (1, 'O''Reilly says "hi" – ünïcødé ✓ \ back\slash', 12345.678,
   '{"k": [1, "two", null]}', '\x00ff10', '{1,2,NULL}',
   '2024-02-29 12:34:56.789+00', -1.5e300, true, 'happy'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE types SET t = 'changed', n = 0 WHERE id = 1;
DELETE FROM types WHERE id = 2;
SELECT * FROM decoded('regress_dml');

-- With binary on (the default), built-in types travel in binary and the
-- enum, a user type, as text.
INSERT INTO types (id, t, bo, m) VALUES (3, 'x', false, 'sad');
SELECT * FROM decoded('regress_dml', 'binary', 'on');

-- A primary key change sends the old key; REPLICA IDENTITY FULL the old row.
UPDATE types SET id = 10 WHERE id = 1;
CREATE TABLE full_ident (k integer, v text);
ALTER TABLE full_ident REPLICA IDENTITY FULL;
INSERT INTO full_ident VALUES (1, 'one');
UPDATE full_ident SET v = 'uno';
DELETE FROM full_ident;
SELECT * FROM decoded('regress_dml');

-- A multi-statement transaction is one BEGIN ... COMMIT.
BEGIN;
INSERT INTO types (id, t) VALUES (20, 'a');
UPDATE types SET t = 'b' WHERE id = 20;
INSERT INTO full_ident VALUES (2, 'two');
DELETE FROM types WHERE id = 20;
COMMIT;
-- A rolled back one is not sent at all.
BEGIN;
INSERT INTO types (id, t) VALUES (21, 'never');
ROLLBACK;
SELECT * FROM decoded('regress_dml');

-- Dropped and generated columns are not sent; the RELATION message goes out
-- again after the table changed.
CREATE TABLE shape (id integer PRIMARY KEY, gone text, kept text,
                    doubled integer GENERATED ALWAYS AS (id * 2) STORED);
INSERT INTO shape (id, gone, kept) VALUES (1, 'g', 'k');
ALTER TABLE shape DROP COLUMN gone;
INSERT INTO shape (id, kept) VALUES (2, 'k2');
SELECT * FROM decoded('regress_dml');

-- A table without a primary key: INSERT is sent; its DELETE cannot name a
-- row and is not.
CREATE TABLE no_key (v text);
INSERT INTO no_key VALUES ('a');
DELETE FROM no_key;
SELECT * FROM decoded('regress_dml');

-- A small transaction travels as one write; a large one in 64 kB batches,
-- with COMMIT at the end of the last.
INSERT INTO types (id, t) VALUES (50, 'one row');
SELECT count(*) AS writes, sum(n) AS messages
  FROM pg_logical_slot_get_binary_changes('regress_dml', NULL, NULL, 'binary', 'off') c,
       LATERAL (SELECT count(*) AS n FROM mmr.decode_message(c.data)) m;
INSERT INTO types (id, t) SELECT g, repeat('x', 100) FROM generate_series(100, 2099) g;
SELECT count(*) AS writes, sum(n) AS messages,
       max(length(data)) <= 64 * 1024 + 200 AS batches_bounded,
       bool_and(last_kind = 'commit') FILTER (WHERE is_last) AS commit_ends_last
  FROM (SELECT c.data, m.n, m.last_kind, c.k = max(c.k) OVER () AS is_last
          FROM pg_logical_slot_get_binary_changes('regress_dml', NULL, NULL, 'binary', 'off')
               WITH ORDINALITY AS c(lsn, xid, data, k),
               LATERAL (SELECT count(*) AS n, (array_agg(d->>'type' ORDER BY i DESC))[1] AS last_kind
                          FROM mmr.decode_message(c.data) WITH ORDINALITY AS e(d, i)) m) s;

SELECT pg_drop_replication_slot('regress_dml');
DROP TABLE types, full_ident, shape, no_key;
DROP TYPE mood;
