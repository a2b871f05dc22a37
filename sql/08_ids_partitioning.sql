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

SELECT mmr.part_node('n1');
DROP TABLE ev, not_a_sequence;
DROP SEQUENCE gid, small_gid, unlogged_gid;
DROP ROLE regress_mmr_app;
