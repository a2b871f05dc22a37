-- The extension's objects, privileges and settings.
SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'mmr' AND c.relkind IN ('r', 'v')
 ORDER BY c.relname;

SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'mmr'
 ORDER BY p.proname;

-- mmr.table_settings is read by the output plugin under historic snapshots.
SELECT reloptions FROM pg_class WHERE oid = 'mmr.table_settings'::regclass;

-- A non-superuser sees the node list and the summary, nothing more.
CREATE ROLE regress_mmr_user;
SET ROLE regress_mmr_user;
SELECT * FROM mmr.nodes;
SELECT * FROM mmr.conflict_summary;
SELECT mmr.local_node_name();
SELECT * FROM mmr.node;
SELECT * FROM mmr.conflict_log;
SELECT mmr.set_table_replicated('pg_class', false);
RESET ROLE;
DROP ROLE regress_mmr_user;

-- Settings of SPEC section 3.
SHOW mmr.default_conflict_resolver;
SHOW mmr.log_conflicts;
SHOW mmr.ddl_replication;
SET mmr.ddl_replication = on;
SHOW mmr.ddl_replication;
RESET mmr.ddl_replication;
SET mmr.ddl_replication = sometimes;
SET mmr.default_conflict_resolver = 'first_update_wins';
SET mmr.no_such_setting = 1;
SELECT name, setting, context, enumvals
  FROM pg_settings WHERE name LIKE 'mmr.%' ORDER BY name;

-- Passwords never show.
SELECT mmr.mask_dsn('host=127.0.0.1 port=5432 dbname=app user=rep password=s3cret');
SELECT mmr.mask_dsn('postgresql://rep:s3cret@127.0.0.1:5432/app?password=again');
SELECT mmr.mask_dsn('host=127.0.0.1 dbname=app');
SELECT mmr.mask_dsn('password=''unterminated');

-- set_table_replicated takes tables only, and not mmr's own.
CREATE VIEW a_view AS SELECT 1 AS x;
SELECT mmr.set_table_replicated('a_view', false);
SELECT mmr.set_table_replicated('mmr.node', false);
SELECT mmr.set_table_replicated('no_such_table', false);
DROP VIEW a_view;
