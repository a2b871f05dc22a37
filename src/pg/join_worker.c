/*-------------------------------------------------------------------------
 *
 * join_worker.c
 *	  The join worker: makes a new node N a full member of the group, with
 *	  a copy of the join node J's schema and data, so that N then receives
 *	  every change of every peer exactly once.
 *
 * NOTES
 *	  The recipe (SPEC 6, docs/join.md):
 *	  1. slots on N for every member (they consume N's future writes), then
 *		 a slot for N on every member X other than J, starting at S_X;
 *	  2. wait until J has applied (and confirmed) X's changes up to S_X;
 *	  3. hold J's apply (mmr.join_hold_apply, released when our session
 *		 ends), create N's slot on J exporting its snapshot (J's changes up
 *		 to S_J are in it, later ones are streamed), and read J's origin
 *		 progress P_X for every X: X's changes up to P_X are in the snapshot;
 *	  4. copy schema, data and the replicated catalogs (the settings made
 *		 before the join) under that snapshot, in one local transaction
 *		 that also sets N's origin for J to S_J and for X to P_X: all of it
 *		 happens, or none; then give the copied rows the commit timestamps
 *		 and origins they have on J (finish_copy) and move to catching_up;
 *		 those facts are not WAL-logged, so they are written again after
 *		 every server start, before any apply, until a checkpoint has them
 *		 (forget_stamps_once_durable);
 *	  5. the manager starts apply from every peer at those positions; once
 *		 every stream has caught up, N is marked ready on J (which tells
 *		 every member) and here.
 *
 *	  The copy's local writes carry a replication origin, so N's own slots
 *	  never send them.  A worker that finds the copy already started (it was
 *	  killed, or the server crashed) fails the join cleanly: the copy
 *	  transaction rolled back, and the node is parted on J, which removes
 *	  its slots on every member.  A failure while catching up is only
 *	  retried: the copy is done.
 *
 *	  Phase transitions are all in join_advance(), one small place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/xact.h"
#include "catalog/pg_replication_origin.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "join.h"
#include "mmr.h"
#include "remote.h"
#include "shmem.h"

/* How long J may take to apply a member's changes up to N's slot there. */
#define JOIN_WAIT_APPLIED_MS (10 * 60 * 1000)

/* How often a finished join looks whether a checkpoint has its stamps. */
#define JOIN_STAMPS_CHECK_MS 5000

typedef struct JoinPeer
{
	int32		node_id;
	char	   *name;
	char	   *dsn;
	Oid			dboid;
	XLogRecPtr	slot_start;		/* N's slot on this peer starts here */
	XLogRecPtr	start_lsn;		/* N applies this peer's changes after it */
} JoinPeer;

typedef struct JoinInfo
{
	int32		join_id;
	int32		node_id;		/* N */
	char	   *node_name;
	char	   *node_dsn;
	char	   *join_dsn;
	int32		join_node_id;	/* J */
	char	   *phase;
	bool		copy_started;
	bool		copy_done;
	XLogRecPtr	stamps_lsn;		/* commit facts kept until a checkpoint
								 * after this; invalid: none kept */
	List	   *peers;			/* JoinPeer, every active member */
} JoinInfo;

static MmrWorkerSlot *join_slot = NULL;
static bool origin_session_active = false;

/*
 * How long each step of this worker's run took, logged when the join is
 * done (docs/join.md, Measured): "step 1.23 s, ...".
 */
static StringInfoData step_times;
static TimestampTz step_started;

static void
step_done(const char *step)
{
	TimestampTz now = GetCurrentTimestamp();

	appendStringInfo(&step_times, "%s%s %.2f s", step_times.len > 0 ? ", " : "",
					 step, (now - step_started) / 1000000.0);
	step_started = now;
}

static void
end_origin_session(void)
{
	if (origin_session_active)
		replorigin_session_reset();
	origin_session_active = false;
	replorigin_session_origin = InvalidRepOriginId;
	replorigin_session_origin_lsn = InvalidXLogRecPtr;
	replorigin_session_origin_timestamp = 0;
}

void
mmr_join_set_phase(MmrWorkerSlot *slot, const char *phase)
{
	SpinLockAcquire(&slot->mutex);
	strlcpy(slot->join_phase, phase, NAMEDATALEN);
	SpinLockRelease(&slot->mutex);
}

static void
begin_local(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
end_local(void)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
}

/*
 * mmr_join_stamps_written tells whether the join worker has written the
 * commit facts of join join_id's copy since the server started (a crash
 * resets shared memory: the facts must then be written again before any
 * apply, see forget_stamps_once_durable).
 */
bool
mmr_join_stamps_written(Oid dboid, int32 join_id)
{
	MmrWorkerSlot *slot;
	bool		written = false;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	slot = mmr_slot_find(MMR_WORKER_JOIN, dboid, 0);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		written = slot->join_stamps_written == join_id;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(MmrShmem->lock);
	return written;
}

/*
 * load_join reads the join in progress (the latest one, unless finished,
 * or finished but with commit facts kept) and the members this node
 * knows; false when there is none.
 */
static bool
load_join(JoinInfo *j)
{
	bool		found;
	MemoryContext cxt = TopMemoryContext;

	begin_local();
	if (SPI_execute("SELECT j.join_id, j.node_id, j.node_name, n.dsn, j.join_dsn, "
					"j.join_node_id, j.phase, j.copy_started, j.copy_done, j.stamps_lsn "
					"FROM mmr.join_state j JOIN mmr.node n USING (node_id) "
					"WHERE j.join_id = (SELECT max(join_id) FROM mmr.join_state) "
					"AND (j.phase NOT IN ('ready', 'failed') "
					"  OR (j.phase = 'ready' AND j.stamps_lsn IS NOT NULL))", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.join_state");
	found = SPI_processed > 0;
	if (found)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		j->join_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		j->node_id = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
		j->node_name = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 3));
		j->node_dsn = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 4));
		j->join_dsn = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 5));
		j->join_node_id = DatumGetInt32(SPI_getbinval(t, d, 6, &isnull));
		j->phase = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 7));
		j->copy_started = DatumGetBool(SPI_getbinval(t, d, 8, &isnull));
		j->copy_done = DatumGetBool(SPI_getbinval(t, d, 9, &isnull));
		j->stamps_lsn = DatumGetLSN(SPI_getbinval(t, d, 10, &isnull));
		if (isnull)
			j->stamps_lsn = InvalidXLogRecPtr;
	}

	j->peers = NIL;
	if (found &&
		SPI_execute("SELECT n.node_id, n.node_name, n.dsn FROM mmr.node n, mmr.local_node l "
					"WHERE n.node_id <> l.node_id AND n.status NOT IN ('parted', 'joining') "
					"ORDER BY n.node_id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.node");
	for (uint64 i = 0; found && i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		JoinPeer   *p = palloc0(sizeof(JoinPeer));
		bool		isnull;

		p->node_id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		p->name = pstrdup(SPI_getvalue(t, d, 2));
		p->dsn = pstrdup(SPI_getvalue(t, d, 3));
		j->peers = lappend(j->peers, p);
		MemoryContextSwitchTo(old);
	}
	end_local();
	return found;
}

/*
 * join_advance records a phase change of the join (the only place that
 * moves mmr.join_state.phase).  Caller is in a transaction and connected
 * to SPI.  failed and ready are final; copying goes to catching_up only.
 */
static void
join_advance(JoinInfo *j, const char *to, const char *error)
{
	Oid			types[6] = {INT4OID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT8OID};
	Datum		values[6];
	char		nulls[6] = "      ";
	bool		final = strcmp(to, "ready") == 0 || strcmp(to, "failed") == 0;
	MmrWorkerSlot copy;

	Assert(strcmp(to, "failed") == 0 ||
		   (strcmp(to, "catching_up") == 0 && strncmp(j->phase, "copying", 7) == 0) ||
		   (strcmp(to, "ready") == 0 && strcmp(j->phase, "catching_up") == 0));

	SpinLockAcquire(&join_slot->mutex);
	memcpy(&copy, join_slot, sizeof(copy));
	SpinLockRelease(&join_slot->mutex);

	values[0] = Int32GetDatum(j->join_id);
	values[1] = CStringGetTextDatum(to);
	if (error != NULL)
		values[2] = CStringGetTextDatum(error);
	else
		nulls[2] = 'n';
	values[3] = Int32GetDatum(copy.tables_total);
	values[4] = Int32GetDatum(copy.tables_done);
	values[5] = Int64GetDatum((int64) copy.bytes_copied);
	if (SPI_execute_with_args(final ?
							  "UPDATE mmr.join_state SET phase = $2, last_error = $3, "
							  "finished_at = now(), "
							  "tables_total = greatest(tables_total, $4), "
							  "tables_done = greatest(tables_done, $5), "
							  "bytes_copied = greatest(bytes_copied, $6) WHERE join_id = $1" :
							  "UPDATE mmr.join_state SET phase = $2, last_error = $3, "
							  "tables_total = $4, tables_done = $5, bytes_copied = $6 "
							  "WHERE join_id = $1",
							  6, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update mmr.join_state");
	j->phase = MemoryContextStrdup(TopMemoryContext, to);
}

static Oid
remote_dboid(const char *dsn)
{
	PGconn	   *conn = mmr_remote_connect(dsn, false, "mmr join");
	Oid			oid;

	PG_TRY();
	{
		PGresult   *res = mmr_remote_exec_expect(conn,
												 "SELECT oid FROM pg_catalog.pg_database "
												 "WHERE datname = current_database()",
												 PGRES_TUPLES_OK);

		oid = (Oid) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	PG_FINALLY();
	{
		PQfinish(conn);
	}
	PG_END_TRY();
	return oid;
}

/*
 * create_slot creates a logical mmr slot over conn (a replication
 * connection) and returns its consistent point; with snapshot_name it
 * exports the snapshot, which lives until conn's next command.
 */
static XLogRecPtr
create_slot(PGconn *conn, const char *slot_name, char **snapshot_name)
{
	char	   *cmd = psprintf("CREATE_REPLICATION_SLOT %s LOGICAL mmr (SNAPSHOT '%s')",
							   quote_identifier(slot_name),
							   snapshot_name ? "export" : "nothing");
	PGresult   *res = mmr_remote_exec_expect(conn, cmd, PGRES_TUPLES_OK);
	XLogRecPtr	lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
													  CStringGetDatum(PQgetvalue(res, 0, 1))));

	if (snapshot_name)
		*snapshot_name = pstrdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	return lsn;
}

static XLogRecPtr
create_slot_at(const char *dsn, const char *slot_name)
{
	PGconn	   *conn = mmr_remote_connect(dsn, true, "mmr join");
	XLogRecPtr	lsn;

	PG_TRY();
	{
		lsn = create_slot(conn, slot_name, NULL);
	}
	PG_FINALLY();
	{
		PQfinish(conn);
	}
	PG_END_TRY();
	return lsn;
}

/*
 * wait_applied_by_join_node waits until J's slot on peer p has confirmed
 * everything up to N's slot start there: J then has every change of p
 * that N's stream from p will not carry.
 */
static void
wait_applied_by_join_node(JoinInfo *j, JoinPeer *join_node, JoinPeer *p)
{
	char	   *slot_name = mmr_peer_object_name(p->dboid, join_node->node_id);
	char	   *sql = psprintf("SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_catalog.pg_replication_slots "
							   "WHERE slot_name = %s",
							   quote_literal_cstr(DatumGetCString(DirectFunctionCall1(pg_lsn_out,
																					  LSNGetDatum(p->slot_start)))),
							   quote_literal_cstr(slot_name));
	PGconn	   *conn = mmr_remote_connect(p->dsn, false, "mmr join");
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   JOIN_WAIT_APPLIED_MS);

	PG_TRY();
	{
		for (;;)
		{
			PGresult   *res = mmr_remote_exec_expect(conn, sql, PGRES_TUPLES_OK);
			bool		done = PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

			PQclear(res);
			if (done)
				break;
			if (GetCurrentTimestamp() >= deadline)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("join node \"%s\" did not apply the changes of \"%s\" up to %X/%X in time",
								join_node->name, p->name, LSN_FORMAT_ARGS(p->slot_start)),
						 errhint("Check mmr.replication_status on \"%s\".", join_node->name)));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		PQfinish(conn);
	}
	PG_END_TRY();
}

/*
 * read_origin_progress sets start_lsn of every peer other than J to J's
 * replication origin progress for it (0/0: J applied nothing of it, so
 * N's slot start is right).
 */
static void
read_origin_progress(PGconn *conn, JoinInfo *j, JoinPeer *join_node)
{
	PGresult   *res = mmr_remote_exec_expect(conn,
											 "SELECT external_id, remote_lsn FROM pg_catalog.pg_replication_origin_status",
											 PGRES_TUPLES_OK);
	ListCell   *lc;

	foreach(lc, j->peers)
	{
		JoinPeer   *p = lfirst(lc);
		char	   *name = mmr_peer_object_name(join_node->dboid, p->node_id);

		if (p == join_node)
			continue;
		p->start_lsn = InvalidXLogRecPtr;
		for (int i = 0; i < PQntuples(res); i++)
			if (strcmp(PQgetvalue(res, i, 0), name) == 0 && !PQgetisnull(res, i, 1))
				p->start_lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
															   CStringGetDatum(PQgetvalue(res, i, 1))));
	}
	PQclear(res);
}

static RepOriginId
peer_origin(int32 peer_node_id)
{
	return replorigin_by_name(mmr_peer_object_name(MyDatabaseId, peer_node_id), false);
}

/*
 * build_origin_map maps J's replication origins (mmr_<J's dboid>_n<id>)
 * to this node's origins for the same nodes; J's own writes (origin 0)
 * and origins of nodes that are no peer here map to J.  Caller is in a
 * transaction.
 */
static void
build_origin_map(PGconn *src, JoinInfo *j, JoinPeer *join_node, MmrJoinOriginMap *map)
{
	PGresult   *res = mmr_remote_exec_expect(src,
											 "SELECT roident, roname FROM pg_catalog.pg_replication_origin",
											 PGRES_TUPLES_OK);
	char	   *prefix = psprintf("mmr_%u_n", join_node->dboid);
	int			n = PQntuples(res);

	map->n = 0;
	map->remote = palloc(sizeof(RepOriginId) * (n + 1));
	map->local = palloc(sizeof(RepOriginId) * (n + 1));
	map->fallback = peer_origin(j->join_node_id);
	for (int i = 0; i < n; i++)
	{
		const char *name = PQgetvalue(res, i, 1);
		RepOriginId local;

		if (strncmp(name, prefix, strlen(prefix)) != 0)
			continue;
		local = replorigin_by_name(mmr_peer_object_name(MyDatabaseId,
														pg_strtoint32(name + strlen(prefix))),
								   true);
		if (local == InvalidRepOriginId)
			continue;
		map->remote[map->n] = (RepOriginId) strtoul(PQgetvalue(res, i, 0), NULL, 10);
		map->local[map->n++] = local;
	}
	PQclear(res);
}

/*
 * save_stamps keeps the commit facts of the copy's subtransactions with
 * the copy, so that a crash before they are written loses nothing.
 */
static void
save_stamps(JoinInfo *j, List *stamps)
{
	ListCell   *lc;
	SPIPlanPtr	plan;
	Oid			types[4] = {INT4OID, INT8OID, INT8OID, INT4OID};

	plan = SPI_prepare("INSERT INTO mmr.join_stamp (join_id, xid, commit_ts, origin) "
					   "VALUES ($1, $2, $3, $4)", 4, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the insert into mmr.join_stamp");
	foreach(lc, stamps)
	{
		MmrJoinStamp *st = lfirst(lc);
		Datum		values[4];

		values[0] = Int32GetDatum(j->join_id);
		values[1] = Int64GetDatum((int64) st->xid);
		values[2] = Int64GetDatum(st->ts);
		values[3] = Int32GetDatum(st->origin);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into mmr.join_stamp");
	}
	SPI_freeplan(plan);
}

/*
 * copy_from_snapshot restores schema and data from J in one transaction,
 * which also sets every origin's progress and marks the copy done.  src
 * runs in the exported snapshot.
 */
static void
copy_from_snapshot(JoinInfo *j, PGconn *src, const char *snapshot,
				   JoinPeer *join_node, XLogRecPtr join_slot_start)
{
	char	   *pre_data;
	char	   *post_data;
	List	   *tables;
	List	   *stamps = NIL;
	ListCell   *lc;
	RepOriginId join_origin;
	MmrJoinOriginMap map;

	pre_data = mmr_join_dump_schema(j->join_dsn, snapshot, "pre-data");
	post_data = mmr_join_dump_schema(j->join_dsn, snapshot, "post-data");
	step_done("pg_dump");
	tables = mmr_join_list_tables(src);
	SpinLockAcquire(&join_slot->mutex);
	join_slot->tables_total = list_length(tables);
	SpinLockRelease(&join_slot->mutex);

	begin_local();
	SetConfigOption("session_replication_role", "replica",
					PGC_SUSET, PGC_S_OVERRIDE);

	/* The copy is J's data, not N's writes: N's slots must not send it. */
	join_origin = peer_origin(j->join_node_id);
	replorigin_session_setup(join_origin);
	replorigin_session_origin = join_origin;
	origin_session_active = true;

	mmr_join_restore_schema(pre_data);
	build_origin_map(src, j, join_node, &map);
	step_done("pre-data");
	mmr_join_set_phase(join_slot, "copying_data");
	foreach(lc, tables)
		(void) mmr_join_copy_table(src, lfirst(lc), join_slot, &map, &stamps);
	mmr_join_copy_sequences(src);
	step_done("data");
	mmr_join_restore_schema(post_data);
	step_done("post-data");
	mmr_join_copy_catalogs(src, join_slot, &map, &stamps);
	step_done("catalogs");
	save_stamps(j, stamps);
	list_free_deep(stamps);

	/* Each stream starts after what the copy holds. */
	LockRelationOid(ReplicationOriginRelationId, RowExclusiveLock);
	foreach(lc, j->peers)
	{
		JoinPeer   *p = lfirst(lc);

		if (p->node_id != j->join_node_id && !XLogRecPtrIsInvalid(p->start_lsn))
			replorigin_advance(peer_origin(p->node_id), p->start_lsn,
							   InvalidXLogRecPtr, true, true);
	}
	if (SPI_execute_with_args("UPDATE mmr.join_state SET copy_done = true WHERE join_id = $1",
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(j->join_id)},
							  NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update mmr.join_state");
	replorigin_session_origin_lsn = join_slot_start;
	replorigin_session_origin_timestamp = GetCurrentTimestamp();
	end_local();
	end_origin_session();
	step_done("commit");
	j->copy_done = true;
}

/*
 * write_stamps gives each subtransaction of the committed copy the commit
 * timestamp and origin of the rows it wrote (in shared memory only: not
 * WAL-logged), records the WAL position after which a checkpoint has
 * them (stamps_lsn: a checkpoint that began before this write, such as
 * the one at the end of crash recovery, may have written the replayed
 * facts instead), and notes in shared memory that they were written since
 * the server started.  Returns the number of stamps.
 */
static uint64
write_stamps(JoinInfo *j)
{
	uint64		nstamps;

	begin_local();
	if (SPI_execute_with_args("SELECT xid, commit_ts, origin FROM mmr.join_stamp WHERE join_id = $1",
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(j->join_id)},
							  NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.join_stamp");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		TransactionTreeSetCommitTsData((TransactionId) DatumGetInt64(SPI_getbinval(t, d, 1, &isnull)),
									   0, NULL,
									   DatumGetInt64(SPI_getbinval(t, d, 2, &isnull)),
									   (RepOriginId) DatumGetInt32(SPI_getbinval(t, d, 3, &isnull)));
	}
	nstamps = SPI_processed;

	j->stamps_lsn = GetXLogInsertRecPtr();
	if (SPI_execute_with_args("UPDATE mmr.join_state SET stamps_lsn = $2 WHERE join_id = $1",
							  2, (Oid[]) {INT4OID, LSNOID},
							  (Datum[]) {Int32GetDatum(j->join_id), LSNGetDatum(j->stamps_lsn)},
							  NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update mmr.join_state");
	end_local();

	SpinLockAcquire(&join_slot->mutex);
	join_slot->join_stamps_written = j->join_id;
	SpinLockRelease(&join_slot->mutex);
	return nstamps;
}

/*
 * finish_copy writes the copy's commit facts, records from which WAL
 * position on a checkpoint has them, and ends the copy phase; the manager
 * then starts apply.  Safe to repeat after a crash.
 */
static void
finish_copy(JoinInfo *j)
{
	uint64		nstamps = write_stamps(j);

	step_done("stamps");
	begin_local();
	join_advance(j, "catching_up", NULL);
	end_local();
	ereport(LOG,
			(errmsg("mmr join of node \"%s\": copy done, catching up", j->node_name),
			 errdetail("The copied rows were last written by " UINT64_FORMAT " transactions on the join node.",
					   nstamps)));
	mmr_wake_database(MyDatabaseId);
}

/*
 * forget_stamps_once_durable waits until a checkpoint has the copy's
 * commit facts, then deletes them.  Until then a crash (whose replay of
 * the copy's commit record sets the copy's own facts again) makes the
 * manager run this worker before any apply worker, and the worker write
 * them again (write_stamps).  No checkpoint is forced: the next one does.
 * A later join of this database (the node was parted and joins again)
 * ends the wait at once: its copy replaces the rows the stamps are for,
 * and the manager starts its join worker only once this one is gone.
 */
static void
forget_stamps_once_durable(JoinInfo *j)
{
	Datum		values[2] = {Int32GetDatum(j->join_id), LSNGetDatum(j->stamps_lsn)};
	Oid			types[2] = {INT4OID, LSNOID};

	for (;;)
	{
		bool		durable;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		begin_local();
		if (SPI_execute_with_args("SELECT redo_lsn > $2 OR EXISTS (SELECT 1 FROM mmr.join_state "
								  "WHERE join_id > $1) FROM pg_catalog.pg_control_checkpoint()",
								  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the last checkpoint");
		durable = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (durable &&
			(SPI_execute_with_args("DELETE FROM mmr.join_stamp WHERE join_id = $1",
								   2, types, values, NULL, false, 0) != SPI_OK_DELETE ||
			 SPI_execute_with_args("UPDATE mmr.join_state SET stamps_lsn = NULL WHERE join_id = $1",
								   2, types, values, NULL, false, 0) != SPI_OK_UPDATE))
			elog(ERROR, "could not forget the stamps of the copy");
		end_local();
		if (durable)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 JOIN_STAMPS_CHECK_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	elog(DEBUG1, "mmr join of node \"%s\": a checkpoint has the copy's commit facts, or a later join replaces them",
		 j->node_name);
	mmr_wake_database(MyDatabaseId);
}

/*
 * join_copy runs steps 1 to 4 of the recipe.
 */
static void
join_copy(JoinInfo *j)
{
	JoinPeer   *join_node = NULL;
	ListCell   *lc;
	PGconn	   *volatile hold = NULL;
	PGconn	   *volatile repl = NULL;
	PGconn	   *volatile src = NULL;

	mmr_join_set_phase(join_slot, "copying_schema");
	foreach(lc, j->peers)
	{
		JoinPeer   *p = lfirst(lc);

		p->dboid = remote_dboid(p->dsn);
		if (p->node_id == j->join_node_id)
			join_node = p;
	}
	if (join_node == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the join node (node id %d) is not an active member of the group",
						j->join_node_id)));

	/* Fresh origins for every peer; progress is set by the copy. */
	begin_local();
	foreach(lc, j->peers)
	{
		char	   *name = mmr_peer_object_name(MyDatabaseId, ((JoinPeer *) lfirst(lc))->node_id);

		replorigin_drop_by_name(name, true, true);
		(void) replorigin_create(name);
	}
	end_local();

	/* 1. Slots: first here, for N's own writes, then on the members. */
	foreach(lc, j->peers)
		(void) create_slot_at(j->node_dsn,
							  mmr_peer_object_name(MyDatabaseId, ((JoinPeer *) lfirst(lc))->node_id));
	foreach(lc, j->peers)
	{
		JoinPeer   *p = lfirst(lc);

		if (p != join_node)
			p->slot_start = create_slot_at(p->dsn, mmr_peer_object_name(p->dboid, j->node_id));
	}

	step_done("slots");

	/* 2. J has what N's streams from the others will not carry. */
	foreach(lc, j->peers)
	{
		JoinPeer   *p = lfirst(lc);

		if (p != join_node)
			wait_applied_by_join_node(j, join_node, p);
	}

	PG_TRY();
	{
		char	   *snapshot;
		XLogRecPtr	join_slot_start;
		char	   *sql;

		/* 3. Hold J's apply, take the snapshot and the origin progress. */
		hold = mmr_remote_connect(j->join_dsn, false, "mmr join hold");
		PQclear(mmr_remote_exec_expect(hold, "SELECT mmr.join_hold_apply()", PGRES_TUPLES_OK));
		repl = mmr_remote_connect(j->join_dsn, true, "mmr join snapshot");
		join_slot_start = create_slot(repl,
									  mmr_peer_object_name(join_node->dboid, j->node_id),
									  &snapshot);
		read_origin_progress(hold, j, join_node);
		PQfinish(hold);
		hold = NULL;
		step_done("snapshot");

		/* 4. Copy. */
		src = mmr_remote_connect(j->join_dsn, false, "mmr join copy");
		PQclear(mmr_remote_exec_expect(src, "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY",
									   PGRES_COMMAND_OK));
		sql = psprintf("SET TRANSACTION SNAPSHOT %s", quote_literal_cstr(snapshot));
		PQclear(mmr_remote_exec_expect(src, sql, PGRES_COMMAND_OK));
		copy_from_snapshot(j, src, snapshot, join_node, join_slot_start);
	}
	PG_FINALLY();
	{
		if (hold)
			PQfinish(hold);
		if (repl)
			PQfinish(repl);
		if (src)
			PQfinish(src);
	}
	PG_END_TRY();

}

/*
 * join_catch_up waits until every peer's stream has caught up, then marks
 * N ready on J (every member learns it from J's stream) and here.
 */
static void
join_catch_up(JoinInfo *j)
{
	PGconn	   *conn;
	char	   *sql;

	for (;;)
	{
		ListCell   *lc;
		bool		all = true;

		CHECK_FOR_INTERRUPTS();
		LWLockAcquire(MmrShmem->lock, LW_SHARED);
		foreach(lc, j->peers)
		{
			MmrWorkerSlot *s = mmr_slot_find(MMR_WORKER_APPLY, MyDatabaseId,
											 ((JoinPeer *) lfirst(lc))->node_id);
			MmrApplyState state = MMR_APPLY_CONNECTING;

			if (s != NULL)
			{
				SpinLockAcquire(&s->mutex);
				state = s->state;
				SpinLockRelease(&s->mutex);
			}
			all = all && state == MMR_APPLY_STREAMING;
		}
		LWLockRelease(MmrShmem->lock);
		if (all)
			break;
		/* An apply worker that caught up sets our latch; the timeout is a safety net. */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	step_done("catch-up");

	conn = mmr_remote_connect(j->join_dsn, false, "mmr join");
	PG_TRY();
	{
		sql = psprintf("UPDATE mmr.node SET status = 'ready' WHERE node_id = %d", j->node_id);
		PQclear(mmr_remote_exec_expect(conn, sql, PGRES_COMMAND_OK));
	}
	PG_FINALLY();
	{
		PQfinish(conn);
	}
	PG_END_TRY();

	/*
	 * Our own row says ready at once, not replicated: J's update of it
	 * follows through J's stream.  mmr.wait_for_join waits for both.
	 */
	begin_local();
	replorigin_session_origin = DoNotReplicateId;
	if (SPI_execute_with_args("UPDATE mmr.node SET status = 'ready' WHERE node_id = $1 AND status = 'joining'",
							  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(j->node_id)},
							  NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update mmr.node");
	join_advance(j, "ready", NULL);
	end_local();
	replorigin_session_origin = InvalidRepOriginId;
	ConditionVariableBroadcast(&MmrShmem->join_done_cv);
	step_done("ready");
	ereport(LOG,
			(errmsg("mmr join of node \"%s\" is complete", j->node_name),
			 errdetail("Steps of this worker: %s.", step_times.data)));
}

/*
 * part_after_failure undoes a failed join as far as it can: parted on J
 * (whose stream tells the other members to drop their slots for N), and
 * N's slots and origins here dropped.  Failures are only logged.
 */
static void
part_after_failure(JoinInfo *j)
{
	ListCell   *lc;

	PG_TRY();
	{
		PGconn	   *conn = mmr_remote_connect(j->join_dsn, false, "mmr join cleanup");
		char	   *sql = psprintf("SELECT mmr.part_node(%s) FROM mmr.node "
								   "WHERE node_id = %d AND status <> 'parted'",
								   quote_literal_cstr(j->node_name), j->node_id);

		PQclear(mmr_remote_exec(conn, sql));
		PQfinish(conn);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();

	foreach(lc, j->peers)
	{
		PG_TRY();
		{
			StartTransactionCommand();
			mmr_drop_peer_objects(((JoinPeer *) lfirst(lc))->node_id);
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
		}
		PG_END_TRY();
	}
}

static void
join_fail(JoinInfo *j, const char *message)
{
	begin_local();
	join_advance(j, "failed", message);
	end_local();
	ConditionVariableBroadcast(&MmrShmem->join_done_cv);
	mmr_join_set_phase(join_slot, "");
	part_after_failure(j);
	ereport(LOG,
			(errmsg("mmr join of node \"%s\" failed: %s", j->node_name, message),
			 errhint("Run mmr.part_node('%s') on this node, then mmr.group_join() again.",
					 j->node_name)));
}

void
mmr_join_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	JoinInfo	j;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	join_slot = mmr_slot_acquire(MMR_WORKER_JOIN, dboid, 0, NULL);
	mmr_slot_attach(join_slot);
	initStringInfo(&step_times);
	step_started = GetCurrentTimestamp();

	if (!load_join(&j))
		proc_exit(0);

	if (strncmp(j.phase, "copying", 7) == 0 && !j.copy_done)
	{
		MemoryContext cxt = CurrentMemoryContext;

		if (j.copy_started)
		{
			join_fail(&j, "the join was interrupted during the copy");
			proc_exit(0);
		}
		begin_local();
		if (SPI_execute_with_args("UPDATE mmr.join_state SET copy_started = true WHERE join_id = $1",
								  1, (Oid[]) {INT4OID}, (Datum[]) {Int32GetDatum(j.join_id)},
								  NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update mmr.join_state");
		end_local();

		PG_TRY();
		{
			join_copy(&j);
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			char	   *message;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			end_origin_session();
			message = edata->detail ?
				psprintf("%s: %s", edata->message, edata->detail) : edata->message;
			join_fail(&j, message);
			proc_exit(0);
		}
		PG_END_TRY();
	}

	if (strncmp(j.phase, "copying", 7) == 0)
		finish_copy(&j);
	else if (!XLogRecPtrIsInvalid(j.stamps_lsn) &&
			 !mmr_join_stamps_written(dboid, j.join_id))
	{
		/* Restarted after a crash: apply waits for this. */
		(void) write_stamps(&j);
		mmr_wake_database(dboid);
	}
	if (strcmp(j.phase, "catching_up") == 0)
		join_catch_up(&j);
	if (!XLogRecPtrIsInvalid(j.stamps_lsn))
		forget_stamps_once_durable(&j);
	proc_exit(0);
}
