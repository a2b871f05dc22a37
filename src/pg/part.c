/*-------------------------------------------------------------------------
 *
 * part.c
 *	  Removing a node from the group: mmr.part_node, and the cleanup of a
 *	  parted peer's slot and origin on every remaining node.
 *
 * NOTES
 *	  Run on a remaining node for peer P: P is marked parted (the change
 *	  replicates to the other members, whose managers then drop their own
 *	  slot and origin for P), and this node drops its apply worker, origin
 *	  and slot for P at once.
 *
 *	  Run on P itself: P stops applying, drops its slots and origins, and
 *	  asks every reachable peer to part it (mmr.part_node on that peer).  A
 *	  peer that cannot be reached is reported with a WARNING; run
 *	  mmr.part_node there later.  A copy of a member (join_identity.c)
 *	  parts only itself: the peers' node of that name is the real one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "join.h"
#include "mmr.h"
#include "remote.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(mmr_part_node);

#define STOP_TIMEOUT_MS 30000

typedef struct NodeRow
{
	int32		node_id;
	char	   *name;
	char	   *status;
	char	   *dsn;
	bool		is_local;
} NodeRow;

/*
 * wait_until waits (interruptibly, up to STOP_TIMEOUT_MS) for done(arg).
 */
static bool
wait_until(bool (*done) (const void *), const void *arg)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   STOP_TIMEOUT_MS);

	while (!done(arg))
	{
		if (GetCurrentTimestamp() >= deadline)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

static bool
apply_slot_idle(const void *arg)
{
	MmrWorkerSlot *slot = (MmrWorkerSlot *) arg;
	pid_t		pid;

	SpinLockAcquire(&slot->mutex);
	pid = slot->pid;
	SpinLockRelease(&slot->mutex);
	return pid == 0;
}

/* The pid using a replication slot, 0 if none, -1 if there is no slot. */
static int
replication_slot_user(const char *name)
{
	int			pid;
	XLogRecPtr	confirmed;

	return mmr_replication_slot_info(name, &pid, &confirmed) ? pid : -1;
}

static bool
replication_slot_unused(const void *arg)
{
	return replication_slot_user((const char *) arg) <= 0;
}

/*
 * mmr_drop_peer_objects stops applying peer_node_id's changes for good and
 * drops this node's origin for it and the slot it consumes here.  Safe to
 * call again: whatever is already gone is skipped.
 */
void
mmr_drop_peer_objects(int32 peer_node_id)
{
	char	   *name = mmr_peer_object_name(MyDatabaseId, peer_node_id);
	MmrWorkerSlot *slot = NULL;
	int			user;

	if (MmrShmem != NULL)
	{
		LWLockAcquire(MmrShmem->lock, LW_SHARED);
		slot = mmr_slot_find(MMR_WORKER_APPLY, MyDatabaseId, peer_node_id);
		LWLockRelease(MmrShmem->lock);
	}
	if (slot != NULL)
	{
		pid_t		pid;

		SpinLockAcquire(&slot->mutex);
		slot->parting = true;
		pid = slot->pid;
		SpinLockRelease(&slot->mutex);
		if (pid != 0)
			kill(pid, SIGTERM);
		if (!wait_until(apply_slot_idle, slot))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("apply worker %d did not stop", (int) pid)));
	}

	replorigin_drop_by_name(name, true, false);

	user = replication_slot_user(name);
	if (user > 0)
		kill(user, SIGTERM);	/* the peer's walsender */
	if (user >= 0)
	{
		if (!wait_until(replication_slot_unused, name))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("replication slot \"%s\" is still in use", name)));
		ReplicationSlotDrop(name, false);
	}
}

static List *
read_nodes(void)
{
	List	   *nodes = NIL;

	if (SPI_execute("SELECT n.node_id, n.node_name, n.status, n.dsn, "
					"n.node_id = (SELECT node_id FROM mmr.local_node) "
					"FROM mmr.node n ORDER BY n.node_id", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.node");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		NodeRow    *n = palloc(sizeof(NodeRow));
		bool		isnull;

		n->node_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		n->name = SPI_getvalue(tup, desc, 2);
		n->status = SPI_getvalue(tup, desc, 3);
		n->dsn = SPI_getvalue(tup, desc, 4);
		n->is_local = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)) && !isnull;
		nodes = lappend(nodes, n);
	}
	return nodes;
}

static void
mark_parted(int32 node_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(node_id)};

	if (SPI_execute_with_args("UPDATE mmr.node SET status = 'parted' WHERE node_id = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update mmr.node");
}

/*
 * ask_peer_to_part runs mmr.part_node(name) on a peer; a failure is only
 * a WARNING, because the local part must still go ahead.
 */
static void
ask_peer_to_part(NodeRow *peer, const char *name)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		PGconn	   *conn = mmr_remote_connect(peer->dsn, false, "mmr part");

		PG_TRY();
		{
			char	   *sql = psprintf("SELECT mmr.part_node(%s)", quote_literal_cstr(name));

			PQclear(mmr_remote_exec_expect(conn, sql, PGRES_TUPLES_OK));
		}
		PG_FINALLY();
		{
			PQfinish(conn);
		}
		PG_END_TRY();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(WARNING,
				(errmsg("could not part node \"%s\" on peer \"%s\": %s",
						name, peer->name, edata->message),
				 errhint("Run mmr.part_node('%s') on \"%s\" when it is reachable.",
						 name, peer->name)));
	}
	PG_END_TRY();
}

/*
 * mmr.part_node(node_name text)
 */
Datum
mmr_part_node(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	NodeRow    *target = NULL;
	char	   *is_copy = NULL;
	List	   *nodes;
	ListCell   *lc;

	mmr_require_preload();
	LockRelationOid(mmr_catalog_relid("local_node"), ExclusiveLock);
	SPI_connect();
	nodes = read_nodes();
	foreach(lc, nodes)
	{
		NodeRow    *n = lfirst(lc);

		if (strcmp(n->name, name) == 0)
			target = n;
	}
	if (target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" is not a member of this group", name)));
	if (strcmp(target->status, "parted") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is already parted", name)));

	if (target->is_local)
		is_copy = mmr_identity_mismatch();
	mark_parted(target->node_id);
	if (!target->is_local)
		mmr_drop_peer_objects(target->node_id);
	else
	{
		/* Stop everything here first, so nothing re-creates our slots. */
		foreach(lc, nodes)
		{
			NodeRow    *peer = lfirst(lc);

			if (!peer->is_local && strcmp(peer->status, "parted") != 0)
				mmr_drop_peer_objects(peer->node_id);
		}
		if (is_copy)
			ereport(NOTICE,
					(errmsg("node \"%s\" was parted here only", name),
					 errdetail("%s.", is_copy)));
		foreach(lc, nodes)
		{
			NodeRow    *peer = lfirst(lc);

			if (!is_copy && !peer->is_local && strcmp(peer->status, "parted") != 0)
				ask_peer_to_part(peer, name);
		}
		/* Out of the group, keyless tables may be updated again. */
		if (SPI_execute("DROP PUBLICATION IF EXISTS " MMR_GUARD_PUBLICATION,
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not drop publication " MMR_GUARD_PUBLICATION);
	}
	SPI_finish();

	mmr_wake_database(MyDatabaseId);
	PG_RETURN_VOID();
}
