-- Forming and leaving a group on one node, and the errors on the way.
-- (The server's environment names its own socket, so 'dbname=...' reaches it.)

-- Joining (with a data copy, the default) needs a target in a group.
SELECT mmr.group_join('n2', 'dbname=contrib_regression', 'dbname=contrib_regression');
-- Bad input changes nothing.
SELECT mmr.group_create('', 'dbname=contrib_regression');
SELECT mmr.group_create('n1', 'host=127.0.0.1 port=1 dbname=x password=s3cret');
-- (terse: the details name this run's socket and system identifier)
\set VERBOSITY terse
SELECT mmr.group_create('n1', 'dbname=postgres password=s3cret');
SELECT mmr.group_create('n1', 'this is not a dsn');
\set VERBOSITY default
SELECT mmr.part_node('nobody');
SELECT mmr.apply_pause();
SELECT mmr.wait_for_join('1 second');
SELECT count(*) FROM mmr.node;

SELECT mmr.group_create('n1', 'dbname=contrib_regression');
SELECT node_name, node_id, status, is_local, priority, dsn FROM mmr.nodes;
SELECT mmr.local_node_name();
SELECT mmr.wait_for_join('10 seconds');
SELECT * FROM mmr.replication_status;
SELECT mmr.wait_slot_confirm_lsn();

-- In a group, UPDATE and DELETE need a key the peers can find rows by:
-- refused at the origin, as PostgreSQL's publications do.
CREATE TABLE keyless (v text);
INSERT INTO keyless VALUES ('a');
UPDATE keyless SET v = 'b';
DELETE FROM keyless;
ALTER TABLE keyless REPLICA IDENTITY FULL;
UPDATE keyless SET v = 'b';

-- Once a member, not again.
SELECT mmr.group_create('n1', 'dbname=contrib_regression');
SELECT mmr.group_join('n2', 'dbname=contrib_regression', 'dbname=contrib_regression', false);

-- Leaving, then forming a new group.
SELECT mmr.part_node('n1');
SELECT node_name, status, is_local FROM mmr.nodes;
ALTER TABLE keyless REPLICA IDENTITY DEFAULT;
DELETE FROM keyless;
DROP TABLE keyless;
SELECT mmr.part_node('n1');
SELECT mmr.group_create('n1b', 'dbname=contrib_regression');
SELECT node_name, status, is_local FROM mmr.nodes;
SELECT mmr.part_node('n1b');
