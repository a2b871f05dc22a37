/*-------------------------------------------------------------------------
 *
 * group.c
 *	  Forming a group: mmr.group_create, mmr.group_join, mmr.wait_for_join.
 *
 * NOTES
 *	  A join without data synchronization registers the new node N on the
 *	  join node J and creates, before anything else can be written, every
 *	  slot N and the existing members need: one on each member X for N, and
 *	  one on N for each X.  Each slot starts at its creation, so no change
 *	  committed after the join is lost on either side.
 *
 *	  N's row is inserted on J as an ordinary change: it reaches every other
 *	  member (and N itself) through J's stream, so they all learn of N.
 *	  The existing rows that N copies from J are written locally as "not
 *	  to be replicated" (DoNotReplicateId), like every copy of a peer's data:
 *	  they are the peers' own rows, not N's changes.
 *
 *	  Every join claims its node id on every member first (claim_node_id),
 *	  so that two joins at once through different members never share an
 *	  id: one of them is refused until the other is ready.
 *
 *	  A join with data synchronization checks everything it can here (the
 *	  local database holds no user tables, same encoding, the name is free),
 *	  registers N on J as 'joining' and records the join in mmr.join_state;
 *	  the join worker (join_worker.c) creates the slots, copies and catches
 *	  up.  Members start applying from N only once it is ready.
 *
 *	  Both kinds of join, and group_create, record which server and
 *	  database this node is (mmr.local_identity): a copy of the database
 *	  elsewhere then knows that it is not this node.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "mb/pg_wchar.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mmr.h"
#include "remote.h"
#include "shmem.h"
#include "tombstone.h"

PG_FUNCTION_INFO_V1(mmr_group_create);
PG_FUNCTION_INFO_V1(mmr_group_join);
PG_FUNCTION_INFO_V1(mmr_wait_for_join);
PG_FUNCTION_INFO_V1(mmr_claim_node_id);

/* A member of the group as the join node lists it. */
typedef struct GroupMember
{
	int32		node_id;
	char	   *name;
	char	   *status;
	int32		priority;
	char	   *dsn;
	char	   *joined_at;
	Oid			dboid;			/* filled in when we connect to it */
} GroupMember;

/* Slots created by a join so far, dropped again if the join fails. */
typedef struct CreatedSlot
{
	char	   *dsn;
	char	   *name;
} CreatedSlot;

/* mmr.node's limit; mmr.global_nextval puts the id in 10 bits of its ids. */
#define MMR_MAX_NODE_ID 1023

static bool group_change_pending = false;
static bool xact_callback_registered = false;

/*
 * At the end of the transaction that changed the group: stop marking
 * writes "not to be replicated", and on commit let the supervisor start
 * this database's manager.
 */
static void
group_xact_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	if (replorigin_session_origin == DoNotReplicateId)
		replorigin_session_origin = InvalidRepOriginId;
	if (group_change_pending && event == XACT_EVENT_COMMIT)
	{
		mmr_note_group_change();
		mmr_wake_database(MyDatabaseId);
	}
	group_change_pending = false;
}

static void
note_group_change_at_commit(bool local_writes_not_replicated)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(group_xact_callback, NULL);
		xact_callback_registered = true;
	}
	group_change_pending = true;
	if (local_writes_not_replicated)
		replorigin_session_origin = DoNotReplicateId;
}

static void
check_node_name(const char *name)
{
	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid node name \"%s\"", name),
				 errdetail("A node name must have 1 to %d bytes.", NAMEDATALEN - 1)));
}

/*
 * lock_membership_and_check_not_member serializes the functions that
 * change this node's membership, and errors out if this database is in a
 * group.  A node that was parted forgets its old group here.
 */
static void
lock_membership_and_check_not_member(void)
{
	int			ret;

	LockRelationOid(mmr_catalog_relid("local_node"), ExclusiveLock);
	SPI_connect();
	ret = SPI_execute("SELECT n.node_name, n.status FROM mmr.local_node l "
					  "LEFT JOIN mmr.node n USING (node_id)", false, 1);
	if (ret == SPI_OK_SELECT && SPI_processed > 0)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		if (status == NULL || strcmp(status, "parted") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("database \"%s\" is already a member of an mmr group",
							get_database_name(MyDatabaseId)),
					 name ? errdetail("This node is \"%s\".", name) : 0,
					 errhint("Use mmr.part_node() to leave the group first.")));

		/* Parted: its slots are gone, so this reaches no peer. */
		note_group_change_at_commit(true);
		if (SPI_execute("DELETE FROM mmr.local_node", false, 0) != SPI_OK_DELETE ||
			SPI_execute("DELETE FROM mmr.node", false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not clear the catalogs of the old group");
	}
	SPI_finish();
}

/*
 * check_dsn_reaches_self verifies that dsn opens a replication connection
 * to this very database: peers will connect with it.
 */
static void
check_dsn_reaches_self(const char *dsn)
{
	PGconn	   *conn = mmr_remote_connect(dsn, true, "mmr node check");

	PG_TRY();
	{
		PGresult   *res = mmr_remote_exec_expect(conn, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK);
		char		local_sysid[32];
		const char *remote_sysid = PQgetvalue(res, 0, 0);
		const char *remote_db = PQgetvalue(res, 0, 3);
		const char *local_db = get_database_name(MyDatabaseId);

		snprintf(local_sysid, sizeof(local_sysid), UINT64_FORMAT, GetSystemIdentifier());
		if (strcmp(remote_sysid, local_sysid) != 0 || strcmp(remote_db, local_db) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("node_external_dsn \"%s\" does not connect to this database",
							mmr_dsn_masked(dsn)),
					 errdetail("It reaches database \"%s\" of system %s; this is database \"%s\" of system %s.",
							   remote_db, remote_sysid, local_db, local_sysid)));
		PQclear(res);
	}
	PG_FINALLY();
	{
		PQfinish(conn);
	}
	PG_END_TRY();
}

/*
 * require_replica_identity makes PostgreSQL itself refuse UPDATE and DELETE
 * on tables that peers could not apply them to (no primary key or replica
 * identity), with its own clear error: a publication of all tables that
 * publishes updates and deletes does exactly that.  Nothing subscribes to
 * it.  Caller is connected to SPI.
 */
static void
require_replica_identity(void)
{
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = '" MMR_GUARD_PUBLICATION "'",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_publication");
	if (SPI_processed == 0 &&
		SPI_execute("CREATE PUBLICATION " MMR_GUARD_PUBLICATION " FOR ALL TABLES "
					"WITH (publish = 'update, delete')", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create publication " MMR_GUARD_PUBLICATION);
}

/*
 * insert_local_node writes a node row and, for this node, local_node.
 */
static void
insert_local_node(int32 node_id, const char *name, const char *status,
				  int32 priority, const char *dsn, const char *joined_at)
{
	Oid			types[6] = {INT4OID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = "     ";

	values[0] = Int32GetDatum(node_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(status);
	values[3] = Int32GetDatum(priority);
	values[4] = CStringGetTextDatum(dsn);
	if (joined_at != NULL)
		values[5] = CStringGetTextDatum(joined_at);
	else
		nulls[5] = 'n';

	if (SPI_execute_with_args("INSERT INTO mmr.node (node_id, node_name, status, priority, dsn, joined_at) "
							  "VALUES ($1, $2, $3, $4, $5, coalesce($6::timestamptz, now()))",
							  6, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into mmr.node");
}

static void
set_local_node(int32 node_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(node_id)};

	if (SPI_execute_with_args("INSERT INTO mmr.local_node (node_id) VALUES ($1)",
							  1, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into mmr.local_node");
}

/*
 * record_identity notes which server and database this node is.
 */
static void
record_identity(void)
{
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2];
	char		sysid[32];

	snprintf(sysid, sizeof(sysid), UINT64_FORMAT, GetSystemIdentifier());
	values[0] = CStringGetTextDatum(sysid);
	values[1] = ObjectIdGetDatum(MyDatabaseId);
	if (SPI_execute("DELETE FROM mmr.local_identity", false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("INSERT INTO mmr.local_identity (system_identifier, database_oid) "
							  "VALUES ($1, $2)", 2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write mmr.local_identity");
}

/*
 * record_join registers a join with a data copy for the join worker.
 */
static void
record_join(int32 node_id, const char *name, const char *join_dsn, int32 join_node_id)
{
	Oid			types[4] = {INT4OID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4];

	values[0] = Int32GetDatum(node_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(join_dsn);
	values[3] = Int32GetDatum(join_node_id);
	if (SPI_execute_with_args("INSERT INTO mmr.join_state (node_id, node_name, join_dsn, "
							  "join_node_id, phase) VALUES ($1, $2, $3, $4, 'copying_schema')",
							  4, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into mmr.join_state");
}

/*
 * check_no_user_tables refuses a join with a data copy into a database
 * that already holds tables of its own: the copy would mix with them.
 */
static void
check_no_user_tables(void)
{
	SPI_connect();
	if (SPI_execute("SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), "
					"count(*) OVER () FROM pg_catalog.pg_class c "
					"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
					"WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' "
					"AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
					"AND n.nspname NOT LIKE 'pg\\_%' "
					"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
					"  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
					"  AND d.objid = c.oid AND d.deptype = 'e') "
					"ORDER BY 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_class");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database \"%s\" is not empty", get_database_name(MyDatabaseId)),
				 errdetail("It holds %s user table(s), for example %s.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Join into an empty database, or create the same schema and data here and call mmr.group_join() with synchronize_data => false.")));
	SPI_finish();
}

/*
 * check_same_encoding: rows are copied and streamed in the server
 * encoding, so both databases must have the same one.
 */
static void
check_same_encoding(PGconn *conn, const char *dsn)
{
	PGresult   *res = mmr_remote_exec_expect(conn, "SHOW server_encoding", PGRES_TUPLES_OK);
	const char *remote = PQgetvalue(res, 0, 0);

	if (strcmp(remote, GetDatabaseEncodingName()) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the node at \"%s\" uses encoding %s, this database %s",
						mmr_dsn_masked(dsn), remote, GetDatabaseEncodingName()),
				 errhint("Create this database with ENCODING '%s'.", remote)));
	PQclear(res);
}

/*
 * check_group_size refuses a group this node could not serve in full:
 * one apply worker and one slot per peer, never silently fewer.
 */
static void
check_group_size(List *members)
{
	int			npeers = 0;
	ListCell   *lc;

	foreach(lc, members)
		if (strcmp(((GroupMember *) lfirst(lc))->status, "parted") != 0)
			npeers++;
	/* a manager and a join worker besides the apply workers */
	if (npeers + 2 > MMR_MAX_WORKERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the group has %d active nodes, more than this build of mmr can serve", npeers),
				 errdetail("A node runs one apply worker per peer; mmr was built with MMR_MAX_WORKERS = %d (shared by all databases of the server).",
						   MMR_MAX_WORKERS),
				 errhint("Raise MMR_MAX_WORKERS in src/pg/shmem.h and rebuild mmr.")));
	if (npeers > max_replication_slots)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("max_replication_slots (%d) is too small for a group of %d nodes",
						max_replication_slots, npeers + 1),
				 errhint("Set max_replication_slots to at least %d (a slot per peer, plus spare) and restart.",
						 npeers + 2)));
	if (npeers + 2 > max_worker_processes)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("max_worker_processes (%d) is too small for a group of %d nodes",
						max_worker_processes, npeers + 1),
				 errhint("Set max_worker_processes to at least %d (a worker per peer, plus 4) and restart.",
						 npeers + 4)));
}

/*
 * mmr.group_create(local_node_name text, node_external_dsn text)
 */
Datum
mmr_group_create(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *dsn = text_to_cstring(PG_GETARG_TEXT_PP(1));

	mmr_check_server_config();
	check_node_name(name);
	lock_membership_and_check_not_member();
	check_dsn_reaches_self(dsn);

	SPI_connect();
	insert_local_node(1, name, "ready", 0, dsn, NULL);
	set_local_node(1);
	record_identity();
	require_replica_identity();
	SPI_finish();
	mmr_tombstone_install_all();

	note_group_change_at_commit(false);
	PG_RETURN_VOID();
}

/*
 * read_group_from lists the members of the group the node at conn belongs
 * to, and that node's own id.
 */
static List *
read_group_from(PGconn *conn, const char *dsn, int32 *join_node_id)
{
	PGresult   *res = mmr_remote_exec(conn,
									  "SELECT n.node_id, n.node_name, n.status, n.priority, n.dsn, "
									  "n.joined_at, (SELECT node_id FROM mmr.local_node) "
									  "FROM mmr.node n ORDER BY n.node_id");
	List	   *members = NIL;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		bool		no_mmr = state && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0);

		PQclear(res);
		if (no_mmr)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the node at \"%s\" does not have the mmr extension",
							mmr_dsn_masked(dsn)),
					 errhint("Run CREATE EXTENSION mmr and mmr.group_create() there first.")));
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not read the group from \"%s\"", mmr_dsn_masked(dsn)),
				 errdetail_internal("%s", res ? PQresultErrorMessage(res) : mmr_remote_error(conn))));
	}

	*join_node_id = 0;
	for (int i = 0; i < PQntuples(res); i++)
	{
		GroupMember *m = palloc0(sizeof(GroupMember));

		m->node_id = pg_strtoint32(PQgetvalue(res, i, 0));
		m->name = pstrdup(PQgetvalue(res, i, 1));
		m->status = pstrdup(PQgetvalue(res, i, 2));
		m->priority = pg_strtoint32(PQgetvalue(res, i, 3));
		m->dsn = pstrdup(PQgetvalue(res, i, 4));
		m->joined_at = pstrdup(PQgetvalue(res, i, 5));
		if (!PQgetisnull(res, i, 6))
			*join_node_id = pg_strtoint32(PQgetvalue(res, i, 6));
		members = lappend(members, m);
	}
	PQclear(res);

	if (*join_node_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the node at \"%s\" is not a member of an mmr group",
						mmr_dsn_masked(dsn)),
				 errhint("Run mmr.group_create() there first.")));
	return members;
}

/*
 * remote_database_oid returns the oid of the database conn is connected to.
 */
static Oid
remote_database_oid(PGconn *conn)
{
	PGresult   *res = mmr_remote_exec_expect(conn,
											 "SELECT oid FROM pg_database WHERE datname = current_database()",
											 PGRES_TUPLES_OK);
	Oid			oid = (Oid) strtoul(PQgetvalue(res, 0, 0), NULL, 10);

	PQclear(res);
	return oid;
}

/*
 * create_slot_at creates a logical mmr slot on the node at dsn, and
 * remembers it so that a failed join drops it again.
 */
static void
create_slot_at(const char *dsn, const char *slot_name, List **created)
{
	PGconn	   *conn = mmr_remote_connect(dsn, true, "mmr join");

	PG_TRY();
	{
		char	   *cmd = psprintf("CREATE_REPLICATION_SLOT \"%s\" LOGICAL mmr (SNAPSHOT 'nothing')",
								   slot_name);

		PQclear(mmr_remote_exec_expect(conn, cmd, PGRES_TUPLES_OK));
	}
	PG_FINALLY();
	{
		PQfinish(conn);
	}
	PG_END_TRY();

	{
		CreatedSlot *cs = palloc(sizeof(CreatedSlot));

		cs->dsn = pstrdup(dsn);
		cs->name = pstrdup(slot_name);
		*created = lappend(*created, cs);
	}
}

/*
 * drop_slots_quietly undoes create_slot_at after a failure.  It must not
 * raise an error (it runs while one is being handled), so it uses plain
 * blocking libpq with a short timeout and ignores every failure.
 */
static void
drop_slots_quietly(List *created)
{
	ListCell   *lc;

	foreach(lc, created)
	{
		CreatedSlot *cs = lfirst(lc);
		const char *keys[] = {"dbname", "connect_timeout", NULL};
		const char *values[] = {cs->dsn, "10", NULL};
		PGconn	   *conn = PQconnectdbParams(keys, values, true);
		char		cmd[NAMEDATALEN + 64];

		snprintf(cmd, sizeof(cmd), "SELECT pg_drop_replication_slot('%s')", cs->name);
		if (PQstatus(conn) == CONNECTION_OK)
			PQclear(PQexec(conn, cmd));
		PQfinish(conn);
	}
}

/*
 * mmr.claim_node_id(node_id integer, node_name text, finished_nodes text[])
 * returns boolean
 *
 * Called by a joining node on every member before it registers: claims
 * node_id here for node_name; false when this member knows a node with
 * that id or another join claimed it.  A join claims on all members in
 * the order of their ids, and claims are kept, so of two joins at once
 * through different members the one that is first at a common member
 * gets on, and the other is refused there: while a join that the caller
 * does not know as finished (finished_nodes: ready or parted in its join
 * node's view) is in progress here, it raises object_in_use.  Only one
 * node joins at a time, since each copies the member list it starts with.
 * A claim whose node was never registered here is stale after
 * CLAIM_REGISTER_MINUTES; its id is still not handed out again.  A retried
 * join of the same name from the same database (joiner: its system
 * identifier and database oid) replaces its earlier claim; one from another
 * database is a second join in progress under that name, and is refused.
 */
#define CLAIM_REGISTER_MINUTES 10

Datum
mmr_claim_node_id(PG_FUNCTION_ARGS)
{
	Oid			types[4] = {INT4OID, TEXTOID, TEXTARRAYOID, TEXTOID};
	Datum		values[4] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_GETARG_DATUM(2),
	PG_GETARG_DATUM(3)};
	bool		is_free;
	bool		isnull;

	/* One claim at a time on this member. */
	LockRelationOid(mmr_catalog_relid("node_id_claim"), ShareRowExclusiveLock);
	SPI_connect();
	if (SPI_execute_with_args("SELECT c.node_name, c.node_id, c.claimed_at FROM mmr.node_id_claim c "
							  "WHERE (c.node_name <> $2 OR c.joiner <> $4) AND c.node_name <> ALL ($3) "
							  "AND NOT EXISTS (SELECT 1 FROM mmr.node n WHERE n.node_name = c.node_name "
							  "  AND n.status IN ('ready', 'parting', 'parted')) "
							  "AND (EXISTS (SELECT 1 FROM mmr.node n WHERE n.node_name = c.node_name) "
							  "  OR c.claimed_at > now() - interval '" CppAsString2(CLAIM_REGISTER_MINUTES) " min') "
							  "ORDER BY c.claimed_at",
							  4, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.node_id_claim");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("node \"%s\" is joining the group",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("It claimed node id %s at %s; one node joins at a time.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3)),
				 errhint("Retry once it is ready in mmr.nodes on every member (or part it, if that join was abandoned).")));

	if (SPI_execute_with_args("SELECT NOT EXISTS (SELECT 1 FROM mmr.node WHERE node_id = $1) "
							  "AND NOT EXISTS (SELECT 1 FROM mmr.node_id_claim "
							  "  WHERE node_id = $1 AND node_name <> $2)",
							  2, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.node_id_claim");
	is_free = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (is_free &&
		(SPI_execute_with_args("DELETE FROM mmr.node_id_claim WHERE node_name = $2",
							   2, types, values, NULL, false, 0) != SPI_OK_DELETE ||
		 SPI_execute_with_args("INSERT INTO mmr.node_id_claim (node_id, node_name, joiner) "
							   "VALUES ($1, $2, $4)",
							   4, types, values, NULL, false, 0) != SPI_OK_INSERT))
		elog(ERROR, "could not write mmr.node_id_claim");
	SPI_finish();
	PG_RETURN_BOOL(is_free);
}

/*
 * release_claims withdraws this join's claims from the members that took
 * them (best effort: a claim left behind is ignored after
 * CLAIM_REGISTER_MINUTES), so that a refused join does not hold other
 * joins off.
 */
static void
release_claims(List *claimed_on, const char *release_sql)
{
	ListCell   *lc;

	foreach(lc, claimed_on)
	{
		GroupMember *m = lfirst(lc);
		char	   *detail;
		PGconn	   *conn = mmr_remote_try_connect(m->dsn, false, "mmr join", &detail);
		PGresult   *res;

		if (conn == NULL)
		{
			ereport(WARNING,
					(errmsg("could not withdraw the node id claim on \"%s\"", m->name),
					 errdetail_internal("could not connect to \"%s\": %s",
										mmr_dsn_masked(m->dsn), detail)));
			continue;
		}
		res = mmr_remote_exec(conn, release_sql);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			ereport(WARNING,
					(errmsg("could not withdraw the node id claim on \"%s\"", m->name),
					 errdetail_internal("%s", res ? PQresultErrorMessage(res) : mmr_remote_error(conn))));
		PQclear(res);
		PQfinish(conn);
	}
}

/*
 * forget_claims_of removes a parted node's claim from every active member
 * when its name is taken again: with its row gone, the claim would look
 * like another join in progress under that name.
 */
static void
forget_claims_of(List *members, int32 node_id)
{
	List	   *active = NIL;
	ListCell   *lc;

	foreach(lc, members)
	{
		GroupMember *m = lfirst(lc);

		if (strcmp(m->status, "parted") != 0)
			active = lappend(active, m);
	}
	release_claims(active, psprintf("DELETE FROM mmr.node_id_claim WHERE node_id = %d", node_id));
}

/*
 * claim_on_member runs mmr.claim_node_id on member m; a refusal there
 * (another join in progress) is raised here with its own message, after
 * the claims already taken on the members in claimed_on are withdrawn.
 */
static bool
claim_on_member(GroupMember *m, const char *sql, List *claimed_on, const char *release_sql)
{
	PGconn	   *conn = mmr_remote_connect(m->dsn, false, "mmr join");
	PGresult   *res = mmr_remote_exec(conn, sql);
	char	   *state;
	char	   *message;
	char	   *detail = NULL;
	char	   *hint = NULL;

	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		bool		claimed = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

		PQclear(res);
		PQfinish(conn);
		return claimed;
	}
	state = res && PQresultErrorField(res, PG_DIAG_SQLSTATE) ?
		pstrdup(PQresultErrorField(res, PG_DIAG_SQLSTATE)) : NULL;
	if (state != NULL && strcmp(state, "55006") == 0)
	{
		message = pstrdup(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		if (PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL))
			detail = pstrdup(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
		if (PQresultErrorField(res, PG_DIAG_MESSAGE_HINT))
			hint = pstrdup(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
	}
	else
		message = pchomp(res ? PQresultErrorMessage(res) : mmr_remote_error(conn));
	PQclear(res);
	PQfinish(conn);
	release_claims(claimed_on, release_sql);
	if (state == NULL || strcmp(state, "55006") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not claim a node id on \"%s\"", m->name),
				 errdetail_internal("%s", message)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("%s", message),
			 detail ? errdetail("%s (seen on \"%s\")", detail, m->name) : 0,
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/*
 * claim_node_id_everywhere claims *node_id (or, if taken on some member,
 * the next free id) on every active member, in the order of their ids.
 * Refuses while a node the join node knows is still joining.
 */
static void
claim_node_id_everywhere(List *members, const char *name, int32 *node_id)
{
	StringInfoData finished;
	char	   *joiner;
	char	   *release_sql;
	ListCell   *lc;

	initStringInfo(&finished);
	foreach(lc, members)
	{
		GroupMember *m = lfirst(lc);

		if (strcmp(m->status, "joining") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("node \"%s\" is joining the group", m->name),
					 errdetail("One node joins at a time."),
					 errhint("Retry once it is ready in mmr.nodes on every member (or part it, if that join was abandoned).")));
		appendStringInfo(&finished, "%s%s", finished.len > 0 ? "," : "",
						 quote_literal_cstr(m->name));
	}

	/* Who joins: a retry from here replaces its claims, another database's is refused. */
	joiner = psprintf(UINT64_FORMAT ":%u", GetSystemIdentifier(), MyDatabaseId);
	release_sql = psprintf("DELETE FROM mmr.node_id_claim c WHERE c.node_name = %s AND c.joiner = %s "
						   "AND NOT EXISTS (SELECT 1 FROM mmr.node n WHERE n.node_name = c.node_name)",
						   quote_literal_cstr(name), quote_literal_cstr(joiner));
	for (;;)
	{
		List	   *claimed_on = NIL;
		char	   *sql = psprintf("SELECT mmr.claim_node_id(%d, %s, ARRAY[%s]::text[], %s)",
								   *node_id, quote_literal_cstr(name), finished.data,
								   quote_literal_cstr(joiner));
		bool		claimed = true;

		if (*node_id > MMR_MAX_NODE_ID)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("an mmr group cannot have more than %d node ids", MMR_MAX_NODE_ID),
					 errdetail("Node ids of parted nodes and of failed joins are not reused.")));
		foreach(lc, members)
		{
			GroupMember *m = lfirst(lc);

			if (strcmp(m->status, "parted") == 0)
				continue;
			if (!(claimed = claim_on_member(m, sql, claimed_on, release_sql)))
				break;
			claimed_on = lappend(claimed_on, m);
		}
		if (claimed)
			return;
		ereport(LOG,
				(errmsg("mmr join of node \"%s\": node id %d is taken, trying %d",
						name, *node_id, *node_id + 1)));
		(*node_id)++;
	}
}

/*
 * mmr.group_join(local_node_name text, node_external_dsn text,
 *				  join_using_dsn text, synchronize_data boolean)
 */
Datum
mmr_group_join(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *dsn = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *join_dsn = text_to_cstring(PG_GETARG_TEXT_PP(2));
	bool		synchronize_data = PG_GETARG_BOOL(3);
	PGconn	   *join_conn;
	List	   *members;
	List	   *volatile created = NIL;
	GroupMember *volatile reused = NULL;
	int32		join_node_id;
	int32		new_id = 1;
	ListCell   *lc;

	PreventInTransactionBlock(true, "mmr.group_join()");
	mmr_check_server_config();
	check_node_name(name);
	lock_membership_and_check_not_member();
	check_dsn_reaches_self(dsn);
	if (synchronize_data)
		check_no_user_tables();

	join_conn = mmr_remote_connect(join_dsn, false, "mmr join");
	PG_TRY();
	{
		members = read_group_from(join_conn, join_dsn, &join_node_id);
		foreach(lc, members)
		{
			GroupMember *m = lfirst(lc);

			if (strcmp(m->name, name) == 0 && strcmp(m->status, "parted") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("node name \"%s\" is already used in the group", name),
						 errhint("Choose another local_node_name, or part that node first.")));
			if (strcmp(m->name, name) == 0)
				reused = m;
			new_id = Max(new_id, m->node_id + 1);
		}
		check_group_size(members);
		if (synchronize_data)
			check_same_encoding(join_conn, join_dsn);

		/* A parted node's name is free again: its row goes, everywhere. */
		if (reused != NULL)
		{
			char	   *sql = psprintf("DELETE FROM mmr.node WHERE node_id = %d AND status = 'parted'",
									   reused->node_id);

			PQclear(mmr_remote_exec_expect(join_conn, sql, PGRES_COMMAND_OK));
			members = list_delete_ptr(members, reused);
			forget_claims_of(members, reused->node_id);
		}

		/* No concurrent join through another member gets the same id. */
		claim_node_id_everywhere(members, name, &new_id);

		/*
		 * Slots first, both ways, for every member still in the group: from
		 * here on nothing committed anywhere is missed.  (A join with a copy
		 * leaves them to the join worker.)
		 */
		foreach(lc, members)
		{
			GroupMember *m = lfirst(lc);
			PGconn	   *conn;

			if (synchronize_data || strcmp(m->status, "parted") == 0)
				continue;
			conn = mmr_remote_connect(m->dsn, false, "mmr join");
			PG_TRY();
			{
				m->dboid = remote_database_oid(conn);
			}
			PG_FINALLY();
			{
				PQfinish(conn);
			}
			PG_END_TRY();
			create_slot_at(m->dsn, mmr_peer_object_name(m->dboid, new_id),
						   (List **) &created);
			create_slot_at(dsn, mmr_peer_object_name(MyDatabaseId, m->node_id),
						   (List **) &created);
		}

		/* Register on the join node: its stream tells every member. */
		{
			char	   *sql = psprintf("INSERT INTO mmr.node (node_id, node_name, status, dsn) "
									   "VALUES (%d, %s, %s, %s)",
									   new_id, quote_literal_cstr(name),
									   synchronize_data ? "'joining'" : "'ready'",
									   quote_literal_cstr(dsn));

			PQclear(mmr_remote_exec_expect(join_conn, sql, PGRES_COMMAND_OK));
		}
	}
	PG_CATCH();
	{
		PQfinish(join_conn);
		drop_slots_quietly(created);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQfinish(join_conn);

	/* The members as they are now, copied, not replicated back. */
	note_group_change_at_commit(true);
	SPI_connect();
	foreach(lc, members)
	{
		GroupMember *m = lfirst(lc);

		insert_local_node(m->node_id, m->name, m->status, m->priority, m->dsn,
						  m->joined_at);
	}
	if (synchronize_data)
	{
		insert_local_node(new_id, name, "joining", 0, dsn, NULL);
		record_join(new_id, name, join_dsn, join_node_id);
	}
	set_local_node(new_id);
	record_identity();
	require_replica_identity();
	SPI_finish();
	mmr_tombstone_install_all();

	PG_RETURN_VOID();
}

/* What wait_for_join looks at. */
typedef struct JoinProgress
{
	bool		in_group;
	char	   *status;			/* own row's status, NULL until it arrived */
	char	   *phase;			/* latest join with a copy, NULL for none */
	char	   *last_error;
} JoinProgress;

static char *
value_or_null(int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(TopTransactionContext, v) : NULL;
}

/*
 * read_join_progress reads this node's status and its latest join.
 */
static void
read_join_progress(JoinProgress *p)
{
	int			ret;

	memset(p, 0, sizeof(*p));
	SPI_connect();
	ret = SPI_execute("SELECT n.status, j.phase, j.last_error FROM mmr.local_node l "
					  "LEFT JOIN mmr.node n USING (node_id) "
					  "LEFT JOIN LATERAL (SELECT phase, last_error FROM mmr.join_state "
					  "  ORDER BY join_id DESC LIMIT 1) j ON true", false, 1);
	p->in_group = ret == SPI_OK_SELECT && SPI_processed > 0;
	if (p->in_group)
	{
		p->status = value_or_null(1);
		p->phase = value_or_null(2);
		p->last_error = value_or_null(3);
	}
	SPI_finish();
}

/*
 * mmr.wait_for_join(timeout interval default null)
 *
 * Waits until this node's own row, written on the join node, has come back
 * through replication with status ready: then the join node streams to us.
 * A join with a copy must also have reached its phase ready (its worker
 * sets our own row ready then, and wakes us); a failed one raises its
 * error.
 */
Datum
mmr_wait_for_join(PG_FUNCTION_ARGS)
{
	TimestampTz deadline = 0;

	if (!PG_ARGISNULL(0))
	{
		Interval   *timeout = PG_GETARG_INTERVAL_P(0);

		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   IntervalPGetDatum(timeout)));
	}

	/* The join worker wakes us when the join ends. */
	ConditionVariablePrepareToSleep(&MmrShmem->join_done_cv);
	for (;;)
	{
		JoinProgress p;
		char	   *status;

		read_join_progress(&p);
		status = p.status;
		if (!p.in_group)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("this node is not a member of an mmr group"),
					 errhint("Call mmr.group_join() first.")));
		if (p.phase != NULL && strcmp(p.phase, "failed") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the join of this node failed"),
					 errdetail("%s", p.last_error ? p.last_error : "unknown error"),
					 errhint("Run mmr.part_node() for this node, then mmr.group_join() again.")));
		if (status != NULL && strcmp(status, "ready") == 0 &&
			(p.phase == NULL || strcmp(p.phase, "ready") == 0))
			break;
		if (status != NULL && strcmp(status, "parted") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("this node was parted from its group")));
		if (deadline != 0 && GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("timed out waiting for the join to finish"),
					 errdetail("This node's status is %s%s%s.", status ? status : "not known yet",
							   p.phase ? ", its join is " : "", p.phase ? p.phase : ""),
					 errhint("Check mmr.replication_status and the server log.")));

		/* A join without a copy ends when our row comes back ready. */
		(void) ConditionVariableTimedSleep(&MmrShmem->join_done_cv, 100L, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	PG_RETURN_VOID();
}
