/* mmr--1.0.sql: the catalogs, views and functions of mmr 1.0 */

\echo Use "CREATE EXTENSION mmr" to load this file. \quit

/*
 * Catalogs.  Which ones replicate to the peers is decided in one place, the
 * output plugin's list of replicated catalogs (src/pg/output_relcache.c):
 * node, conflict_resolver and write_partition replicate, the others are
 * local to each node.
 */

-- Every node of the group, as this node knows it (replicated).
CREATE TABLE mmr.node (
    node_id    integer PRIMARY KEY CHECK (node_id BETWEEN 1 AND 1023),
    node_name  text NOT NULL UNIQUE CHECK (node_name <> ''),
    status     text NOT NULL
               CHECK (status IN ('joining', 'ready', 'parting', 'parted')),
    priority   integer NOT NULL DEFAULT 0,
    dsn        text NOT NULL,
    joined_at  timestamptz NOT NULL DEFAULT now()
);

-- Which row of mmr.node is this node (local; at most one row).  No foreign
-- key: a joining node learns its own row from the join node's stream.
CREATE TABLE mmr.local_node (
    node_id    integer PRIMARY KEY,
    singleton  boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);

-- Tables excluded from replication (local).  A user catalog table, so that
-- the output plugin reads it as of the decoded transaction.
CREATE TABLE mmr.table_settings (
    relation    oid PRIMARY KEY,
    replicated  boolean NOT NULL
) WITH (user_catalog_table = true);

-- Conflict resolvers per table (replicated, so every node decides alike).
-- The relation is named, not an oid: oids differ between nodes.
CREATE TABLE mmr.conflict_resolver (
    relation_schema    text NOT NULL,
    relation_name      text NOT NULL,
    conflict_type      text NOT NULL DEFAULT '*',  -- '*' = every type
    resolver           text,
    resolver_function  text,
    PRIMARY KEY (relation_schema, relation_name, conflict_type),
    CHECK ((resolver IS NULL) <> (resolver_function IS NULL))
);

-- Every conflict this node resolved (local).
CREATE TABLE mmr.conflict_history (
    conflict_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at          timestamptz NOT NULL DEFAULT now(),
    relation           text NOT NULL,
    conflict_type      text NOT NULL,
    resolution         text NOT NULL,
    resolver           text NOT NULL,
    local_node         text,
    remote_node        text NOT NULL,
    local_commit_ts    timestamptz,
    remote_commit_ts   timestamptz,
    key                jsonb,
    local_row          jsonb,
    remote_row         jsonb,
    resolved_row       jsonb,
    remote_commit_lsn  pg_lsn
);
CREATE INDEX conflict_history_logged_at ON mmr.conflict_history (logged_at);

/*
 * Views.
 */

-- Passwords never leave the catalog: the view shows password=********.
CREATE FUNCTION mmr.mask_dsn(dsn text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'mmr_mask_dsn';

CREATE VIEW mmr.nodes AS
    SELECT n.node_name, n.node_id, n.status,
           (l.node_id IS NOT NULL) AS is_local,
           n.priority, mmr.mask_dsn(n.dsn) AS dsn, n.joined_at
      FROM mmr.node n LEFT JOIN mmr.local_node l USING (node_id)
     ORDER BY n.node_name;

CREATE VIEW mmr.conflict_log AS
    SELECT conflict_id, logged_at, relation, conflict_type, resolution,
           resolver, local_node, remote_node, local_commit_ts,
           remote_commit_ts, key, local_row, remote_row, resolved_row,
           remote_commit_lsn
      FROM mmr.conflict_history;

CREATE VIEW mmr.conflict_summary AS
    SELECT relation, conflict_type, resolution, count(*) AS conflicts,
           max(logged_at) AS last_logged_at
      FROM mmr.conflict_history
     GROUP BY relation, conflict_type, resolution
     ORDER BY relation, conflict_type, resolution;

/*
 * Functions.
 */

CREATE FUNCTION mmr.local_node_name() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
    AS $$ SELECT n.node_name FROM mmr.node n JOIN mmr.local_node USING (node_id) $$;

CREATE FUNCTION mmr.set_table_replicated(relation regclass, replicated boolean)
    RETURNS void
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'mmr_set_table_replicated';

-- Renders the messages of one write of the mmr output plugin (a row of
-- pg_logical_slot_peek_binary_changes on an mmr slot) as jsonb, one row each.
CREATE FUNCTION mmr.decode_message(message bytea, proto_version integer DEFAULT 1)
    RETURNS SETOF jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
    AS 'MODULE_PATHNAME', 'mmr_decode_message';

CREATE FUNCTION mmr.group_create(local_node_name text, node_external_dsn text)
    RETURNS void
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'mmr_group_create';

CREATE FUNCTION mmr.group_join(local_node_name text, node_external_dsn text,
                               join_using_dsn text, synchronize_data boolean DEFAULT true)
    RETURNS void
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'mmr_group_join';

CREATE FUNCTION mmr.wait_for_join(timeout interval DEFAULT NULL)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_wait_for_join';

CREATE FUNCTION mmr.part_node(node_name text)
    RETURNS void
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'mmr_part_node';

CREATE FUNCTION mmr.wait_slot_confirm_lsn(node_name text DEFAULT NULL,
                                          target_lsn pg_lsn DEFAULT NULL)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_wait_slot_confirm_lsn';

-- peer_name NULL: every peer.
CREATE FUNCTION mmr.apply_pause(peer_name text DEFAULT NULL)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_apply_pause';

CREATE FUNCTION mmr.apply_resume(peer_name text DEFAULT NULL)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_apply_resume';

-- One row per apply worker slot of this database (shared memory).
CREATE FUNCTION mmr.apply_worker_status(
    OUT peer_node_id integer, OUT state text, OUT worker_pid integer,
    OUT received_lsn pg_lsn, OUT applied_lsn pg_lsn, OUT sender_wal_end pg_lsn,
    OUT last_applied_commit_time timestamptz,
    OUT applied_transactions bigint, OUT applied_changes bigint,
    OUT conflicts bigint, OUT last_error text, OUT last_error_at timestamptz)
    RETURNS SETOF record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_apply_worker_status';

-- Every peer this node receives from, whether or not its worker runs now.
CREATE VIEW mmr.replication_status AS
    SELECT p.node_name AS peer_name,
           coalesce(s.state, 'stopped') AS state,
           s.worker_pid,
           s.received_lsn,
           s.applied_lsn,
           greatest(coalesce(s.sender_wal_end - s.received_lsn, 0), 0)::bigint AS lag_bytes,
           CASE WHEN s.sender_wal_end > s.received_lsn
                THEN now() - s.last_applied_commit_time
                ELSE interval '0' END AS lag,
           coalesce(s.applied_transactions, 0) AS applied_transactions,
           coalesce(s.applied_changes, 0) AS applied_changes,
           coalesce(s.conflicts, 0) AS conflicts,
           s.last_error,
           s.last_error_at
      FROM mmr.node p
      JOIN mmr.local_node l ON p.node_id <> l.node_id
      LEFT JOIN mmr.apply_worker_status() s ON s.peer_node_id = p.node_id
     WHERE p.status <> 'parted'
     ORDER BY p.node_name;

/*
 * Conflicts: catalog caches, resolver settings, delete tombstones (the
 * catalog engineer's block; docs/conflicts.md).
 */

-- Backends cache mmr.node, mmr.local_node and mmr.conflict_resolver: a row
-- change invalidates the catalog's relcache entry, which every backend sees
-- at commit.  ENABLE ALWAYS: changes applied from peers count too.
CREATE FUNCTION mmr.catalog_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'mmr_catalog_changed';
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON mmr.node
    FOR EACH ROW EXECUTE FUNCTION mmr.catalog_changed();
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON mmr.local_node
    FOR EACH ROW EXECUTE FUNCTION mmr.catalog_changed();
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON mmr.conflict_resolver
    FOR EACH ROW EXECUTE FUNCTION mmr.catalog_changed();
ALTER TABLE mmr.node ENABLE ALWAYS TRIGGER catalog_changed;
ALTER TABLE mmr.local_node ENABLE ALWAYS TRIGGER catalog_changed;
ALTER TABLE mmr.conflict_resolver ENABLE ALWAYS TRIGGER catalog_changed;

-- Resolver settings (replicated through mmr.conflict_resolver and mmr.node).
CREATE FUNCTION mmr.set_conflict_resolver(relation regclass, resolver text,
                                          conflict_type text DEFAULT NULL)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_set_conflict_resolver';

CREATE FUNCTION mmr.set_conflict_resolver_function(relation regclass,
                                                   resolver_function regprocedure,
                                                   conflict_type text DEFAULT NULL)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_set_conflict_resolver_function';

CREATE FUNCTION mmr.set_node_priority(node_name text, priority integer)
    RETURNS void
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'mmr_set_node_priority';

-- Delete tombstones (local): one row per deleted key of a replicated table.
-- The row's xmin gives the delete's origin and commit time (commit_ts);
-- key is the text form of the table's key columns, compared bytewise.
CREATE TABLE mmr.tombstone (
    relation     oid NOT NULL,
    key          text COLLATE "C" NOT NULL,
    -- Set when the version is not the xmin's: a row deleted because a change
    -- claimed one of its unique values carries that row's own version.
    origin       integer,
    commit_time  timestamptz,
    PRIMARY KEY (relation, key)
);

-- Records local deletes; installed on every replicated table with a key.
CREATE FUNCTION mmr.tombstone_trigger() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'mmr_tombstone_trigger';

-- Installs that trigger on tables created (or given a key) while in a group.
CREATE FUNCTION mmr.tombstone_new_tables() RETURNS event_trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'mmr_tombstone_new_tables';
CREATE EVENT TRIGGER mmr_tombstone_new_tables ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
    EXECUTE FUNCTION mmr.tombstone_new_tables();
ALTER EVENT TRIGGER mmr_tombstone_new_tables ENABLE ALWAYS;

-- TRUNCATE tombstones (local; the truncate engineer's block, docs/conflicts.md
-- "TRUNCATE"): one row per table a TRUNCATE emptied lately, local or applied.
-- Its xmin gives the truncate's origin and commit time, as for mmr.tombstone.
CREATE TABLE mmr.truncate_tombstone (
    relation  oid PRIMARY KEY
);

-- Records local TRUNCATEs; installed next to mmr.tombstone_trigger().
CREATE FUNCTION mmr.truncate_tombstone_trigger() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'mmr_truncate_tombstone_trigger';

-- Unique value registers (the unique keys block; docs/conflicts.md, "Unique
-- keys other than the replica identity").  Local, like mmr.tombstone.  For a
-- value of a secondary unique index left without the row that last held it,
-- the version of that row (origin: a node id; commit_time -infinity:
-- unknown), or of a change that claimed it without being stored.  NULL
-- origin and commit_time: this row's xmin says it.  value is the index
-- columns' text form, rendered as tombstone keys are.
CREATE TABLE mmr.unique_claim (
    relation     oid NOT NULL,
    index        oid NOT NULL,
    value        text COLLATE "C" NOT NULL,
    origin       integer,
    commit_time  timestamptz,
    PRIMARY KEY (relation, index, value)
);
-- CREATE UNIQUE INDEX (and ALTER TABLE ... ADD UNIQUE) gives a table's
-- tombstone trigger the UPDATE event, which releases unique values.
CREATE EVENT TRIGGER mmr_unique_new_indexes ON ddl_command_end
    WHEN TAG IN ('CREATE INDEX')
    EXECUTE FUNCTION mmr.tombstone_new_tables();
ALTER EVENT TRIGGER mmr_unique_new_indexes ENABLE ALWAYS;

/*
 * Joining with a data copy (src/pg/join_worker.c, docs/join.md).
 */

-- One row per join this node has made or is making (local).  join_dsn may
-- hold a password: superuser only, never shown by the view.
CREATE TABLE mmr.join_state (
    join_id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id       integer NOT NULL,
    node_name     text NOT NULL,
    join_dsn      text NOT NULL,
    join_node_id  integer NOT NULL,
    phase         text NOT NULL CHECK (phase IN ('copying_schema', 'copying_data',
                                                 'catching_up', 'ready', 'failed')),
    copy_started  boolean NOT NULL DEFAULT false,  -- a worker began the copy
    copy_done     boolean NOT NULL DEFAULT false,  -- the copy committed
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    tables_total  integer NOT NULL DEFAULT 0,
    tables_done   integer NOT NULL DEFAULT 0,
    bytes_copied  bigint NOT NULL DEFAULT 0,
    last_error    text,
    -- the copy's commit facts are written; they are kept (mmr.join_stamp)
    -- until a checkpoint that began after this WAL position has completed
    stamps_lsn    pg_lsn
);

-- The commit timestamp and origin that each transaction of a committed copy
-- is to record (local; kept until a checkpoint has them, see docs/join.md).
CREATE TABLE mmr.join_stamp (
    join_id    integer NOT NULL,
    xid        bigint NOT NULL,  -- a TransactionId of this node
    commit_ts  bigint NOT NULL,   -- microseconds since 2000-01-01, 0: unknown
    origin     integer NOT NULL,
    PRIMARY KEY (join_id, xid)
);

-- Which server and database this node is (local, dumped with the extension's
-- data): a restored dump or a file copy of a member finds a different one
-- here and refuses to act as that member.
CREATE TABLE mmr.local_identity (
    system_identifier  text NOT NULL,
    database_oid       oid NOT NULL,
    singleton          boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);

-- Live progress of the running join worker (shared memory).
CREATE FUNCTION mmr.join_progress(OUT phase text, OUT tables_total integer,
                                  OUT tables_done integer, OUT bytes_copied bigint)
    RETURNS SETOF record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_join_progress';

CREATE VIEW mmr.join_status AS
    SELECT j.node_name,
           coalesce(p.phase, j.phase) AS phase,
           j.started_at, j.finished_at,
           coalesce(p.tables_total, j.tables_total) AS tables_total,
           coalesce(p.tables_done, j.tables_done) AS tables_done,
           coalesce(p.bytes_copied, j.bytes_copied) AS bytes_copied,
           j.last_error
      FROM mmr.join_state j
      LEFT JOIN mmr.join_progress() p
             ON j.join_id = (SELECT max(join_id) FROM mmr.join_state)
            AND j.phase IN ('copying_schema', 'copying_data')
     ORDER BY j.join_id;

-- Called by a joining node on its join node: holds this node's apply until
-- the calling session ends, once every apply worker is between transactions.
CREATE FUNCTION mmr.join_hold_apply()
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_join_hold_apply';

SELECT pg_catalog.pg_extension_config_dump('mmr.local_identity', '');

-- Node ids claimed by joins (local to each member; group.c, docs/join.md): a
-- joining node claims its id on every member before it registers, so two
-- joins at once through different members never get the same id.
CREATE TABLE mmr.node_id_claim (
    node_id     integer PRIMARY KEY,
    node_name   text NOT NULL,
    joiner      text NOT NULL,  -- system identifier:database oid of the joining node
    claimed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION mmr.claim_node_id(node_id integer, node_name text, finished_nodes text[],
                                  joiner text)
    RETURNS boolean
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'mmr_claim_node_id';

/*
 * Privileges: catalogs and mutating functions are for superusers only.
 * Everybody may read the node list (passwords masked), the conflict summary
 * and this node's name; the conflict log holds row data and is not public.
 */
REVOKE ALL ON ALL TABLES IN SCHEMA mmr FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mmr FROM PUBLIC;
GRANT USAGE ON SCHEMA mmr TO PUBLIC;
GRANT SELECT ON mmr.nodes, mmr.conflict_summary, mmr.replication_status TO PUBLIC;
GRANT EXECUTE ON FUNCTION mmr.local_node_name(), mmr.mask_dsn(text),
    mmr.decode_message(bytea, integer), mmr.apply_worker_status() TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('mmr.node', '');
SELECT pg_catalog.pg_extension_config_dump('mmr.local_node', '');
SELECT pg_catalog.pg_extension_config_dump('mmr.table_settings', '');
SELECT pg_catalog.pg_extension_config_dump('mmr.conflict_resolver', '');
SELECT pg_catalog.pg_extension_config_dump('mmr.conflict_history', '');

-- Joining with a data copy: progress is public, like replication_status.
GRANT SELECT ON mmr.join_status TO PUBLIC;
GRANT EXECUTE ON FUNCTION mmr.join_progress() TO PUBLIC;

/*
 * Global ids (src/pg/global_id.c, docs/global_ids.md).
 */

-- A group-wide unique id from a sequence, usable as a column DEFAULT.  Like
-- nextval, anybody with USAGE or UPDATE on the sequence may call it.
CREATE FUNCTION mmr.global_nextval(sequence regclass)
    RETURNS bigint
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'mmr_global_nextval';
GRANT EXECUTE ON FUNCTION mmr.global_nextval(regclass) TO PUBLIC;

/*
 * Write partitioning (src/pg/write_partition.c, docs/write_partitioning.md).
 */

-- Which node may write a table, or which column names the node that may
-- write each row (replicated; by name, like mmr.conflict_resolver).
CREATE TABLE mmr.write_partition (
    relation_schema  text NOT NULL,
    relation_name    text NOT NULL,
    writer_node      text,   -- mmr.set_table_writer; NULL: every node
    writer_column    name,   -- mmr.set_row_writer_column; NULL: rows not owned
    PRIMARY KEY (relation_schema, relation_name)
);
SELECT pg_catalog.pg_extension_config_dump('mmr.write_partition', '');

-- The check on tables with a setting (installed by the trigger below).
CREATE FUNCTION mmr.write_partition_check() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'mmr_write_partition_check';

-- Installs and removes that check where a setting is made or applied.
CREATE FUNCTION mmr.write_partition_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'mmr_write_partition_changed';
CREATE TRIGGER write_partition_changed AFTER INSERT OR UPDATE OR DELETE ON mmr.write_partition
    FOR EACH ROW EXECUTE FUNCTION mmr.write_partition_changed();
ALTER TABLE mmr.write_partition ENABLE ALWAYS TRIGGER write_partition_changed;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON mmr.write_partition
    FOR EACH ROW EXECUTE FUNCTION mmr.catalog_changed();
ALTER TABLE mmr.write_partition ENABLE ALWAYS TRIGGER catalog_changed;

CREATE FUNCTION mmr.set_table_writer(relation regclass, node_name text)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_set_table_writer';

CREATE FUNCTION mmr.set_row_writer_column(relation regclass, column_name name)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_set_row_writer_column';

REVOKE ALL ON mmr.write_partition FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION mmr.write_partition_check(), mmr.write_partition_changed(),
    mmr.set_table_writer(regclass, text), mmr.set_row_writer_column(regclass, name) FROM PUBLIC;

-- A dropped table's mmr.set_table_replicated setting goes with it
-- (src/pg/catalog.c); ENABLE ALWAYS: drops applied from peers count too.
CREATE FUNCTION mmr.forget_dropped_tables() RETURNS event_trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'mmr_forget_dropped_tables';
CREATE EVENT TRIGGER mmr_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION mmr.forget_dropped_tables();
ALTER EVENT TRIGGER mmr_forget_dropped_tables ENABLE ALWAYS;
REVOKE EXECUTE ON FUNCTION mmr.forget_dropped_tables() FROM PUBLIC;

/*
 * DDL replication (src/pg/ddl_capture.c, docs/ddl.md).
 */

-- Runs a DDL command here and on every peer, in commit order with the data.
CREATE FUNCTION mmr.replicate_ddl(command text)
    RETURNS void
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'mmr_replicate_ddl';
REVOKE EXECUTE ON FUNCTION mmr.replicate_ddl(text) FROM PUBLIC;

/*
 * mmr.skip_transaction (src/pg/skip_transaction.c): per peer, the commit LSN
 * of the one remote transaction that apply is to skip (local).  Its
 * catalog_changed trigger tells a running apply worker to read it again.
 */
CREATE TABLE mmr.apply_skip (
    node_id            integer PRIMARY KEY,
    remote_commit_lsn  pg_lsn NOT NULL,
    requested_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON mmr.apply_skip
    FOR EACH ROW EXECUTE FUNCTION mmr.catalog_changed();
REVOKE ALL ON mmr.apply_skip FROM PUBLIC;

CREATE FUNCTION mmr.skip_transaction(peer_name text, remote_commit_lsn pg_lsn)
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'mmr_skip_transaction';
REVOKE EXECUTE ON FUNCTION mmr.skip_transaction(text, pg_lsn) FROM PUBLIC;
