-- Global ids (mmr.global_nextval) and write partitioning
-- (mmr.set_table_writer, mmr.set_row_writer_column): argument errors.
CREATE SEQUENCE gid;
CREATE TEMPORARY SEQUENCE temp_gid;
CREATE UNLOGGED SEQUENCE unlogged_gid;
CREATE SEQUENCE small_gid AS integer;
CREATE TABLE not_a_sequence (id integer PRIMARY KEY);

-- Outside a group there is no node id.
SELECT mmr.global_nextval('gid');

SELECT mmr.group_create('n1', 'dbname=contrib_regression');
SELECT mmr.global_nextval('not_a_sequence');
SELECT mmr.global_nextval('temp_gid');
SELECT mmr.global_nextval('unlogged_gid');
SELECT mmr.global_nextval('small_gid');
SELECT mmr.global_nextval(NULL);
SELECT last_value, is_called FROM small_gid;

-- Ids carry the node id and grow; the sequence holds the last one.
SELECT (id >> 12) & 1023 AS node_id, count(*), bool_and(id > prev) AS growing
  FROM (SELECT id, lag(id) OVER (ORDER BY i) AS prev
          FROM (SELECT i, mmr.global_nextval('gid') AS id
                  FROM generate_series(1, 10000) i) g) x
 GROUP BY 1;
SELECT mmr.global_nextval('gid') AS last_id \gset
SELECT last_value = :last_id AS holds_last, is_called FROM gid;

-- Usable as a DEFAULT, by a role with USAGE on the sequence only.
CREATE ROLE regress_mmr_app;
CREATE TABLE ev (id bigint PRIMARY KEY DEFAULT mmr.global_nextval('gid'), v text);
GRANT INSERT, SELECT ON ev TO regress_mmr_app;
SET ROLE regress_mmr_app;
INSERT INTO ev (v) VALUES ('no usage');
RESET ROLE;
GRANT USAGE ON SEQUENCE gid TO regress_mmr_app;
SET ROLE regress_mmr_app;
INSERT INTO ev (v) VALUES ('a'), ('b');
RESET ROLE;
SELECT v, id = (SELECT last_value FROM gid) AS is_last FROM ev ORDER BY id;

-- Write partitioning: bad input is an error and changes nothing.
CREATE TABLE region_rows (id integer PRIMARY KEY, region text, v text);
CREATE TABLE pt (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE pt_n1 PARTITION OF pt FOR VALUES IN ('n1');
CREATE TABLE pt_n2 PARTITION OF pt FOR VALUES IN ('n2');
CREATE VIEW a_view AS SELECT 1 AS x;
CREATE TEMPORARY TABLE temp_t (id integer);
SELECT mmr.set_table_writer('region_rows', 'nobody');
SELECT mmr.set_table_writer(NULL, 'n1');
SELECT mmr.set_table_writer('a_view', 'n1');
SELECT mmr.set_table_writer('gid', 'n1');
SELECT mmr.set_table_writer('mmr.node', 'n1');
SELECT mmr.set_table_writer('temp_t', 'n1');
SELECT mmr.set_row_writer_column('region_rows', 'no_such_column');
SELECT mmr.set_row_writer_column('region_rows', 'ctid');
SELECT mmr.set_row_writer_column('a_view', 'x');
SELECT mmr.set_row_writer_column(NULL, 'region');
SELECT * FROM mmr.write_partition;
SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mmr_write_partition%';

-- This node's own table and rows: writes pass.
SELECT mmr.set_table_writer('region_rows', 'n1');
SELECT mmr.set_row_writer_column('region_rows', 'region');
SELECT * FROM mmr.write_partition;
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
 WHERE tgname LIKE 'mmr_write_partition%' ORDER BY 1, 2;
INSERT INTO region_rows VALUES (1, 'n1', 'mine');
UPDATE region_rows SET v = 'still mine' WHERE id = 1;
-- Another node's rows are refused, and nothing changes.
INSERT INTO region_rows VALUES (2, 'n2', 'theirs');
INSERT INTO region_rows VALUES (3, NULL, 'nobody''s');
UPDATE region_rows SET region = 'n2' WHERE id = 1;
INSERT INTO region_rows VALUES (1, 'n2', 'take over')
    ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;
COPY region_rows FROM stdin;
4	n1	copied
5	n2	copied
\.
TRUNCATE region_rows;
-- The same for a role that may not read mmr's catalogs.
GRANT INSERT ON region_rows TO regress_mmr_app;
SET ROLE regress_mmr_app;
INSERT INTO region_rows VALUES (6, 'n1', 'by the app');
INSERT INTO region_rows VALUES (7, 'n2', 'by the app');
RESET ROLE;
SELECT * FROM region_rows ORDER BY id;
-- The column's rows may still be written while a peer's change is applied:
-- apply workers run as replica, where the check does not fire.
SET session_replication_role = replica;
INSERT INTO region_rows VALUES (2, 'n2', 'as if applied');
RESET session_replication_role;
DELETE FROM region_rows WHERE id = 2;
UPDATE region_rows SET v = 'x' WHERE id = 2;
DELETE FROM region_rows WHERE id = 1;
-- Turning both off removes the setting and the triggers.
SELECT mmr.set_row_writer_column('region_rows', NULL);
SELECT * FROM mmr.write_partition;
SELECT mmr.set_table_writer('region_rows', NULL);
SELECT * FROM mmr.write_partition;
SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mmr_write_partition%';
DELETE FROM region_rows WHERE id = 2;
TRUNCATE region_rows;

-- A partitioned table: rows routed to its partitions are checked there.
SELECT mmr.set_row_writer_column('pt', 'region');
INSERT INTO pt VALUES (1, 'n1');
INSERT INTO pt VALUES (2, 'n2');
INSERT INTO pt_n2 VALUES (3, 'n2');
UPDATE pt SET region = 'n2' WHERE id = 1;
SELECT * FROM pt ORDER BY id;
SELECT mmr.set_row_writer_column('pt', NULL);
SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mmr_write_partition%';

-- A dropped table's set_table_replicated setting goes with it (its oid
-- could be given to a new table).
CREATE TABLE excluded (id integer PRIMARY KEY);
CREATE TABLE excluded_too (id integer PRIMARY KEY);
SELECT mmr.set_table_replicated('excluded', false);
SELECT mmr.set_table_replicated('excluded_too', false);
SELECT 'excluded'::regclass::oid AS excluded_oid \gset
SELECT count(*) FROM mmr.table_settings;
DROP TABLE excluded;
SELECT count(*) FROM mmr.table_settings WHERE relation = :excluded_oid;
SELECT relation::regclass, replicated FROM mmr.table_settings;
BEGIN;
DROP TABLE excluded_too;
ROLLBACK;
SELECT relation::regclass, replicated FROM mmr.table_settings;
DROP TABLE excluded_too;
SELECT count(*) FROM mmr.table_settings;
-- A role that may not write mmr's catalogs drops its own table.
CREATE TABLE app_table (id integer PRIMARY KEY);
ALTER TABLE app_table OWNER TO regress_mmr_app;
SET ROLE regress_mmr_app;
DROP TABLE app_table;
RESET ROLE;

SELECT mmr.part_node('n1');
DROP TABLE region_rows, pt;
DROP VIEW a_view;
DROP TABLE ev, not_a_sequence;
DROP SEQUENCE gid, small_gid, unlogged_gid;
DROP ROLE regress_mmr_app;
