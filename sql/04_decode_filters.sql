-- What the output plugin leaves out, and TRUNCATE and logical messages.
SELECT 'init' FROM pg_create_logical_replication_slot('regress_filters', 'mmr');

CREATE TABLE parent (id integer PRIMARY KEY);
CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent);
CREATE TABLE counter (id serial PRIMARY KEY, v text);
INSERT INTO parent VALUES (1);
INSERT INTO child VALUES (1, 1);
INSERT INTO counter (v) VALUES ('x');
SELECT count(*) > 0 AS some_changes FROM decoded('regress_filters');

-- TRUNCATE, with its CASCADE and RESTART IDENTITY flags.
TRUNCATE parent CASCADE;
TRUNCATE counter RESTART IDENTITY;
SELECT * FROM decoded('regress_filters');

-- Transactional logical messages are sent in the transaction; others are not.
BEGIN;
INSERT INTO counter (v) VALUES ('with message');
SELECT 'msg' FROM pg_logical_emit_message(true, 'mmr_test', 'payload ✓');
COMMIT;
SELECT 'msg' FROM pg_logical_emit_message(false, 'mmr_test', 'not transactional');
SELECT 'msg' FROM pg_logical_emit_message(true, 'mmr_test', '\x00ff'::bytea);
SELECT * FROM decoded('regress_filters');

-- A change made under a replication origin (as the apply worker makes them)
-- is not sent: in a mesh, each node sends only its own writes.
SELECT 'origin' FROM pg_replication_origin_create('regress_peer');
SELECT pg_replication_origin_session_setup('regress_peer');
INSERT INTO counter (v) VALUES ('applied from a peer');
SELECT pg_replication_origin_session_reset();
INSERT INTO counter (v) VALUES ('written here');
SELECT * FROM decoded('regress_filters');
SELECT pg_replication_origin_drop('regress_peer');

-- An excluded table is absent, and a transaction that touches only excluded
-- tables sends nothing at all; included again, it is sent again.
CREATE TABLE excluded (id integer PRIMARY KEY);
SELECT mmr.set_table_replicated('excluded', false);
SELECT relation::regclass, replicated FROM mmr.table_settings;
INSERT INTO excluded VALUES (1);
BEGIN;
INSERT INTO excluded VALUES (2);
INSERT INTO counter (v) VALUES ('beside an excluded change');
COMMIT;
SELECT mmr.set_table_replicated('excluded', true);
INSERT INTO excluded VALUES (3);
SELECT * FROM decoded('regress_filters');

-- Excluding a partitioned table excludes its partitions.
CREATE TABLE measurements (id integer PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE measurements_low PARTITION OF measurements FOR VALUES FROM (0) TO (100);
SELECT mmr.set_table_replicated('measurements', false);
INSERT INTO measurements VALUES (1);
SELECT mmr.set_table_replicated('measurements', true);
INSERT INTO measurements VALUES (2);
SELECT * FROM decoded('regress_filters');

-- mmr's own catalogs: the node list replicates, the conflict history does not.
INSERT INTO mmr.conflict_history (relation, conflict_type, resolution, resolver, remote_node)
VALUES ('public.t', 'insert_exists', 'apply_remote', 'last_update_wins', 'n2');
INSERT INTO mmr.node (node_id, node_name, status, dsn, joined_at)
VALUES (1, 'n1', 'ready', 'host=x', '2026-01-01 00:00:00+00');
SELECT * FROM decoded('regress_filters');
DELETE FROM mmr.node;
DELETE FROM mmr.conflict_history;

-- Options are checked.
SELECT * FROM decoded('regress_filters', 'proto_version', '2');
SELECT * FROM decoded('regress_filters', 'proto_version', 'x');
SELECT * FROM decoded('regress_filters', 'colour', 'blue');
SELECT * FROM decoded('regress_filters', 'binary', 'maybe');

SELECT pg_drop_replication_slot('regress_filters');
DROP TABLE child, parent, counter, excluded, measurements;
