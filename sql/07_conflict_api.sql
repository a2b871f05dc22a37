-- Conflict settings (set_conflict_resolver, set_conflict_resolver_function,
-- set_node_priority) and the tombstones of local deletes.
CREATE ROLE regress_mmr_owner;
CREATE TABLE acct (id integer PRIMARY KEY, balance integer, note text);
CREATE TABLE other (id integer PRIMARY KEY);
CREATE TABLE local_only (id integer PRIMARY KEY);
CREATE TABLE keyless_t (v text);
CREATE TABLE owned (id integer PRIMARY KEY, v text);
ALTER TABLE owned OWNER TO regress_mmr_owner;
CREATE FUNCTION acct_merge(l acct, r acct, t text) RETURNS acct
    LANGUAGE sql AS $$ SELECT r.id, coalesce(l.balance, 0) + r.balance, t $$;
CREATE FUNCTION wrong_args(l acct, r other, t text) RETURNS acct
    LANGUAGE sql AS $$ SELECT l $$;
CREATE FUNCTION wrong_result(l acct, r acct, t text) RETURNS other
    LANGUAGE sql AS $$ SELECT ROW(1)::other $$;
CREATE FUNCTION wrong_count(l acct, r acct) RETURNS acct
    LANGUAGE sql AS $$ SELECT l $$;
CREATE FUNCTION not_for_owner(l owned, r owned, t text) RETURNS owned
    LANGUAGE sql AS $$ SELECT r $$;
REVOKE EXECUTE ON FUNCTION not_for_owner(owned, owned, text) FROM PUBLIC;
CREATE VIEW a_view AS SELECT 1 AS x;

-- Bad input is an error and changes nothing.
SELECT mmr.set_conflict_resolver('acct', 'newest_wins');
SELECT mmr.set_conflict_resolver('acct', 'keep_local', 'update_conflict');
SELECT mmr.set_conflict_resolver('acct', 'custom');
SELECT mmr.set_conflict_resolver(NULL, 'keep_local');
SELECT mmr.set_conflict_resolver('acct', NULL);
SELECT mmr.set_conflict_resolver('mmr.node', 'keep_local');
SELECT mmr.set_conflict_resolver('a_view', 'keep_local');
SELECT mmr.set_conflict_resolver('no_such_table', 'keep_local');
SELECT mmr.set_conflict_resolver_function('acct', 'wrong_args(acct,other,text)');
SELECT mmr.set_conflict_resolver_function('acct', 'wrong_result(acct,acct,text)');
SELECT mmr.set_conflict_resolver_function('acct', 'wrong_count(acct,acct)');
SELECT mmr.set_conflict_resolver_function('other', 'acct_merge(acct,acct,text)');
SELECT mmr.set_conflict_resolver_function('acct', 'acct_merge(acct,acct,text)', 'delete_missing');
SELECT mmr.set_conflict_resolver_function('acct', 'acct_merge(acct,acct,text)', 'delete_origin_differs');
SELECT mmr.set_conflict_resolver_function('acct', 'acct_merge(acct,acct,text)', 'no_such_type');
SELECT mmr.set_conflict_resolver_function('acct', 'no_such_function(acct,acct,text)');
SELECT mmr.set_conflict_resolver_function('owned', 'not_for_owner(owned,owned,text)');
SELECT mmr.set_node_priority('nobody', 5);
CREATE TABLE parted (id integer PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE FUNCTION parted_merge(l parted, r parted, t text) RETURNS parted
    LANGUAGE sql AS $$ SELECT r $$;
SELECT mmr.set_conflict_resolver_function('parted', 'parted_merge(parted,parted,text)');
SELECT count(*) FROM mmr.conflict_resolver;

-- Settings land in the replicated catalog; a second call replaces.
SELECT mmr.set_conflict_resolver('acct', 'keep_local');
SELECT mmr.set_conflict_resolver('acct', 'origin_wins', 'update_origin_differs');
SELECT mmr.set_conflict_resolver('acct', 'first_update_wins', 'update_origin_differs');
SELECT mmr.set_conflict_resolver('acct', 'error', 'delete_missing');
SELECT mmr.set_conflict_resolver_function('acct', 'acct_merge(acct,acct,text)', 'insert_exists');
SELECT relation_schema, relation_name, conflict_type, resolver, resolver_function
  FROM mmr.conflict_resolver ORDER BY 1, 2, 3;

-- Superusers only.
SET ROLE regress_mmr_owner;
SELECT mmr.set_conflict_resolver('owned', 'keep_local');
SELECT mmr.set_conflict_resolver_function('acct', 'acct_merge(acct,acct,text)');
SELECT mmr.set_node_priority('n1', 5);
RESET ROLE;

-- Node priorities need a group; they show in mmr.nodes.
SELECT mmr.set_table_replicated('local_only', false);
SELECT mmr.group_create('n1', 'dbname=contrib_regression');
SELECT mmr.set_node_priority('n1', 7);
SELECT node_name, priority FROM mmr.nodes;

-- Every replicated table with a key gets the tombstone trigger, also one
-- created later; excluded and keyless tables get none.
CREATE TABLE later (a timestamptz, b text, PRIMARY KEY (a, b));
CREATE TABLE later_keyless (v text);
SELECT tgrelid::regclass AS table_name, tgenabled
  FROM pg_trigger WHERE tgname = 'mmr_tombstone' ORDER BY 1::text;

-- A local delete leaves a tombstone written by the deleting transaction
-- (so it has this node's origin and that commit time).  Each delete is read
-- back in its own transaction: in a group of one, the manager may collect a
-- committed tombstone at any moment, since no peer can need it.
BEGIN;
INSERT INTO acct VALUES (1, 10, 'a'), (2, 20, 'b');
DELETE FROM acct WHERE id = 1;
SELECT relation::regclass, key, xmin = pg_current_xact_id()::xid AS by_this_delete
  FROM mmr.tombstone ORDER BY 1::text, 2;
COMMIT;
-- Deleting the key again keeps one tombstone, the new delete's.
BEGIN;
INSERT INTO acct VALUES (1, 11, 'again');
DELETE FROM acct WHERE id = 1;
SELECT count(*), bool_and(xmin = pg_current_xact_id()::xid) AS by_this_delete
  FROM mmr.tombstone WHERE relation = 'acct'::regclass;
COMMIT;

-- A non-superuser's delete is recorded too; it cannot read the tombstones.
INSERT INTO owned VALUES (5, 'x');
BEGIN;
SET LOCAL ROLE regress_mmr_owner;
DELETE FROM owned;
SELECT count(*) FROM mmr.tombstone;
ROLLBACK;
BEGIN;
SET LOCAL ROLE regress_mmr_owner;
DELETE FROM owned;
RESET ROLE;
SELECT relation::regclass, key FROM mmr.tombstone WHERE relation = 'owned'::regclass;
COMMIT;

-- Keys are rendered the same whatever the session's settings; a composite
-- key is quoted like a row.
SET TimeZone = 'America/New_York';
SET DateStyle = 'SQL, DMY';
BEGIN;
INSERT INTO later VALUES ('2024-02-29 12:00:00+00', 'x, "y"');
DELETE FROM later;
RESET TimeZone;
RESET DateStyle;
SELECT key FROM mmr.tombstone WHERE relation = 'later'::regclass;
COMMIT;

-- A table with a secondary unique index gets the trigger on UPDATE too: a
-- local UPDATE that moves a unique value, or a DELETE, stores the value's
-- register at the old row's version (here this transaction's: NULL origin
-- and commit_time, the register's xmin says it).  A committed row's release
-- is collectable at once in a group of one (no peer): no register.
CREATE TABLE uniq (id integer PRIMARY KEY, u text UNIQUE, v text);
SELECT tgrelid::regclass, (tgtype & 16) <> 0 AS on_update
  FROM pg_trigger WHERE tgname = 'mmr_tombstone' AND tgrelid IN ('uniq'::regclass, 'acct'::regclass)
 ORDER BY 1::text;
BEGIN;
INSERT INTO uniq VALUES (1, 'a', 'x'), (2, NULL, 'y');
UPDATE uniq SET u = 'b' WHERE id = 1;
UPDATE uniq SET v = 'z' WHERE id = 1;
UPDATE uniq SET u = 'n' WHERE id = 2;
DELETE FROM uniq WHERE id = 2;
SELECT relation::regclass, index::regclass, value, origin, commit_time,
       xmin = pg_current_xact_id()::xid AS by_this_transaction
  FROM mmr.unique_claim ORDER BY value;
COMMIT;
UPDATE uniq SET u = 'c' WHERE id = 1;
DELETE FROM uniq;
SELECT count(*) FROM mmr.unique_claim WHERE relation = 'uniq'::regclass AND value IN ('b', 'c');
-- An index whose equal values may have different text forms (a
-- nondeterministic collation; numeric: 1.0 = 1.00) keeps no registers, and
-- its table needs no UPDATE trigger for it.
CREATE COLLATION regress_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE uniq_ci (id integer PRIMARY KEY, u text COLLATE regress_ci UNIQUE, n numeric UNIQUE);
SELECT (tgtype & 16) <> 0 AS on_update
  FROM pg_trigger WHERE tgname = 'mmr_tombstone' AND tgrelid = 'uniq_ci'::regclass;
BEGIN;
INSERT INTO uniq_ci VALUES (1, 'a', 1.0);
DELETE FROM uniq_ci;
SELECT count(*) FROM mmr.unique_claim WHERE relation = 'uniq_ci'::regclass;
COMMIT;
DROP TABLE uniq_ci;
DROP COLLATION regress_ci;
-- A unique index added later gives the trigger the UPDATE event.
CREATE TABLE uniq_later (id integer PRIMARY KEY, u text);
CREATE UNIQUE INDEX uniq_later_u ON uniq_later (u);
ALTER TABLE later ADD UNIQUE (b);
SELECT tgrelid::regclass, (tgtype & 16) <> 0 AS on_update
  FROM pg_trigger WHERE tgname = 'mmr_tombstone' AND tgrelid IN ('uniq_later'::regclass, 'later'::regclass)
 ORDER BY 1::text;

-- Excluded and keyless tables: no tombstones.
INSERT INTO local_only VALUES (1);
DELETE FROM local_only;
INSERT INTO later_keyless VALUES ('a');
ALTER TABLE later_keyless REPLICA IDENTITY FULL;
DELETE FROM later_keyless;
SELECT count(*) FROM mmr.tombstone WHERE relation IN ('local_only'::regclass, 'later_keyless'::regclass);

-- A key added later brings the trigger.
ALTER TABLE later_keyless ADD PRIMARY KEY (v);
SELECT count(*) FROM pg_trigger WHERE tgname = 'mmr_tombstone' AND tgrelid = 'later_keyless'::regclass;

-- So does a table a non-superuser creates (who may not use the trigger
-- function itself).
GRANT CREATE ON SCHEMA public TO regress_mmr_owner;
SET ROLE regress_mmr_owner;
CREATE TABLE users_table (id integer PRIMARY KEY);
RESET ROLE;
SELECT tgrelid::regclass FROM pg_trigger
 WHERE tgname = 'mmr_tombstone' AND tgrelid = 'users_table'::regclass;
DROP TABLE users_table;
REVOKE CREATE ON SCHEMA public FROM regress_mmr_owner;

-- The SQL mmr runs as the owner of its catalogs (registers, tombstones,
-- triggers) ignores the caller's search_path: operators a table owner puts
-- in a schema ahead of pg_catalog run only in the owner's own statements.
CREATE SCHEMA evil AUTHORIZATION regress_mmr_owner;
GRANT CREATE ON SCHEMA public TO regress_mmr_owner;
SET ROLE regress_mmr_owner;
CREATE TABLE evil.ran (who name, op text);
CREATE FUNCTION evil.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO evil.ran VALUES (current_user, 'text = text');
   RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION evil.oid_int_eq(oid, integer) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO evil.ran VALUES (current_user, 'oid = integer');
   RETURN $1 OPERATOR(pg_catalog.=) $2::oid; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = evil.oid_int_eq);
SET search_path = evil, pg_catalog, public;
CREATE TABLE public.evil_t (id integer PRIMARY KEY, u text);
CREATE UNIQUE INDEX evil_t_u ON public.evil_t (u);
INSERT INTO public.evil_t VALUES (1, 'a');
BEGIN;
INSERT INTO public.evil_t VALUES (2, 'x');
UPDATE public.evil_t SET u = 'y' WHERE id = 2;  -- a register of this transaction
UPDATE public.evil_t SET u = 'b' WHERE id = 1;  -- collectable at once: forgotten
DELETE FROM public.evil_t;
COMMIT;
SELECT 'a'::text = 'a'::text AS own_statement;
RESET search_path;
RESET ROLE;
SELECT who, op, count(*) FROM evil.ran GROUP BY 1, 2 ORDER BY 1, 2;
DROP TABLE evil_t;
DROP SCHEMA evil CASCADE;
REVOKE CREATE ON SCHEMA public FROM regress_mmr_owner;

-- The heartbeat (a non-transactional horizon message) is sent; other
-- non-transactional messages are not.
SELECT 'init' FROM pg_create_logical_replication_slot('regress_horizon', 'mmr');
SELECT 'msg' FROM pg_logical_emit_message(false, 'mmr.horizon', '\x01000100020000000000000001'::bytea);
SELECT 'msg' FROM pg_logical_emit_message(false, 'mmr_test', 'not sent');
INSERT INTO local_only VALUES (2);  -- a commit that flushes, sends nothing
SELECT * FROM decoded('regress_horizon');
SELECT pg_drop_replication_slot('regress_horizon');

-- Retention of the conflict log: an interval, checked when set.
SHOW mmr.conflict_log_retention;
ALTER SYSTEM SET mmr.conflict_log_retention = 'soon';
ALTER SYSTEM SET mmr.conflict_log_retention = '-1 day';
ALTER SYSTEM SET mmr.conflict_log_retention = '12 hours';
ALTER SYSTEM SET mmr.conflict_log_retention = '0';
ALTER SYSTEM RESET mmr.conflict_log_retention;
SELECT mmr.part_node('n1');
-- A parted node's deletes leave no tombstones.
INSERT INTO acct VALUES (9, 90, 'after part');
DELETE FROM acct WHERE id = 9;
SELECT count(*) FROM mmr.tombstone WHERE key = '9';
DROP TABLE acct, other, local_only, keyless_t, owned, later, later_keyless, parted, uniq, uniq_later CASCADE;
DROP VIEW a_view;
DROP ROLE regress_mmr_owner;
DELETE FROM mmr.conflict_resolver;
DELETE FROM mmr.tombstone;
DELETE FROM mmr.unique_claim;
