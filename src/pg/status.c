/*-------------------------------------------------------------------------
 *
 * status.c
 *	  What a DBA sees and steers of the running replication: the apply
 *	  workers' shared state (behind mmr.replication_status), pausing apply,
 *	  and waiting for peers to confirm local changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/tuplestore.h"

#include "mmr.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(mmr_apply_worker_status);
PG_FUNCTION_INFO_V1(mmr_apply_pause);
PG_FUNCTION_INFO_V1(mmr_apply_resume);
PG_FUNCTION_INFO_V1(mmr_wait_slot_confirm_lsn);
PG_FUNCTION_INFO_V1(mmr_join_hold_apply);
PG_FUNCTION_INFO_V1(mmr_join_progress);

#define JOIN_HOLD_TIMEOUT_MS 60000

#define STATUS_COLUMNS 12

static Datum
lsn_or_null(XLogRecPtr lsn, bool *isnull)
{
	*isnull = XLogRecPtrIsInvalid(lsn);
	return LSNGetDatum(lsn);
}

/*
 * mmr.apply_worker_status(): one row per apply worker slot of this
 * database, copied under each slot's spinlock.
 */
Datum
mmr_apply_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (MmrShmem == NULL)
		return (Datum) 0;		/* not preloaded: no workers */

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	for (int i = 0; i < MMR_MAX_WORKERS; i++)
	{
		MmrWorkerSlot *slot = &MmrShmem->workers[i];
		MmrWorkerSlot copy;
		Datum		values[STATUS_COLUMNS];
		bool		nulls[STATUS_COLUMNS] = {0};

		if (slot->kind != MMR_WORKER_APPLY || slot->dboid != MyDatabaseId)
			continue;
		SpinLockAcquire(&slot->mutex);
		memcpy(&copy, slot, sizeof(copy));
		SpinLockRelease(&slot->mutex);

		values[0] = Int32GetDatum(copy.peer_node_id);
		values[1] = CStringGetTextDatum(mmr_apply_state_name(copy.state));
		values[2] = Int32GetDatum(copy.pid);
		nulls[2] = copy.pid == 0;
		values[3] = lsn_or_null(copy.received_lsn, &nulls[3]);
		values[4] = lsn_or_null(copy.applied_lsn, &nulls[4]);
		values[5] = lsn_or_null(copy.sender_wal_end, &nulls[5]);
		values[6] = TimestampTzGetDatum(copy.last_applied_commit_time);
		nulls[6] = copy.last_applied_commit_time == 0;
		values[7] = Int64GetDatum((int64) copy.applied_transactions);
		values[8] = Int64GetDatum((int64) copy.applied_changes);
		values[9] = Int64GetDatum((int64) copy.conflicts);
		values[10] = CStringGetTextDatum(copy.last_error);
		nulls[10] = copy.last_error[0] == '\0';
		values[11] = TimestampTzGetDatum(copy.last_error_at);
		nulls[11] = copy.last_error_at == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(MmrShmem->lock);
	return (Datum) 0;
}

/*
 * manager_slot finds the shared memory slot of this database's manager, or
 * says that the database has no running group.
 */
static MmrWorkerSlot *
manager_slot(void)
{
	MmrWorkerSlot *manager;

	mmr_require_preload();
	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	manager = mmr_slot_find(MMR_WORKER_MANAGER, MyDatabaseId, 0);
	LWLockRelease(MmrShmem->lock);
	if (manager == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database \"%s\" has no running mmr group",
						get_database_name(MyDatabaseId)),
				 errhint("Create or join a group first; its manager starts within seconds.")));
	return manager;
}

/*
 * peer_node_ids returns the node ids of this node's peers (members that are
 * not parted), or of the one named, which must be one of them.
 */
static List *
peer_node_ids(const char *node_name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1] = {' '};
	List	   *ids = NIL;
	MemoryContext caller_context = CurrentMemoryContext;
	int			ret;

	if (node_name != NULL)
		values[0] = CStringGetTextDatum(node_name);
	else
		nulls[0] = 'n';

	SPI_connect();
	ret = SPI_execute_with_args("SELECT n.node_id FROM mmr.node n, mmr.local_node l "
								"WHERE n.node_id <> l.node_id AND n.status <> 'parted' "
								"AND ($1 IS NULL OR n.node_name = $1)",
								1, types, values, nulls, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.node");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spi_context = MemoryContextSwitchTo(caller_context);

		ids = lappend_int(ids, id);
		MemoryContextSwitchTo(spi_context);
	}
	SPI_finish();

	if (node_name != NULL && ids == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" is not a peer of this node", node_name),
				 errhint("mmr.replication_status lists this node's peers.")));
	return ids;
}

/*
 * set_apply_paused pauses or resumes applying the changes of the peer named
 * by the function's optional argument, or of every peer when it is NULL,
 * and wakes the workers so that they act on it now.
 */
static void
set_apply_paused(FunctionCallInfo fcinfo, bool paused)
{
	MmrWorkerSlot *manager = manager_slot();
	int32		peer_node_id = 0;

	if (!PG_ARGISNULL(0))
	{
		char	   *peer_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
		bool		all_paused;

		peer_node_id = linitial_int(peer_node_ids(peer_name));
		SpinLockAcquire(&manager->mutex);
		all_paused = manager->apply_paused;
		SpinLockRelease(&manager->mutex);
		if (!paused && all_paused)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot resume peer \"%s\" alone while apply is paused for every peer",
							peer_name),
					 errhint("Call mmr.apply_resume() to resume every peer, then mmr.apply_pause() for the ones to hold.")));
	}
	mmr_set_apply_paused(manager, peer_node_id, paused);
	mmr_wake_database(MyDatabaseId);
}

Datum
mmr_apply_pause(PG_FUNCTION_ARGS)
{
	set_apply_paused(fcinfo, true);
	PG_RETURN_VOID();
}

Datum
mmr_apply_resume(PG_FUNCTION_ARGS)
{
	set_apply_paused(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * peer_slot_names returns the names of the slots that the peers (or the
 * one named) consume on this node.
 */
static List *
peer_slot_names(const char *node_name)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, peer_node_ids(node_name))
		names = lappend(names, mmr_peer_object_name(MyDatabaseId, lfirst_int(lc)));
	return names;
}

/* The confirmed flush LSN of a slot, or InvalidXLogRecPtr if missing. */
static XLogRecPtr
slot_confirmed_flush(const char *name)
{
	int			pid;
	XLogRecPtr	confirmed;

	return mmr_replication_slot_info(name, &pid, &confirmed) ? confirmed : InvalidXLogRecPtr;
}

/*
 * mmr.wait_slot_confirm_lsn(node_name text, target_lsn pg_lsn)
 *
 * Waits until the peer(s) confirmed receipt and local flush of this node's
 * changes up to target_lsn (default: the current WAL insert position).
 */
Datum
mmr_wait_slot_confirm_lsn(PG_FUNCTION_ARGS)
{
	const char *node_name = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	XLogRecPtr	target = PG_ARGISNULL(1) ? GetXLogInsertRecPtr() : PG_GETARG_LSN(1);
	List	   *slots = peer_slot_names(node_name);
	ListCell   *lc;

	foreach(lc, slots)
	{
		const char *slot = lfirst(lc);

		for (;;)
		{
			XLogRecPtr	confirmed = slot_confirmed_flush(slot);

			if (confirmed >= target)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 50L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_RETURN_VOID();
}


static void
release_apply_hold(int code, Datum arg)
{
	MmrWorkerSlot *manager = (MmrWorkerSlot *) DatumGetPointer(arg);

	SpinLockAcquire(&manager->mutex);
	if (manager->apply_hold_pid == MyProcPid)
		manager->apply_hold_pid = 0;
	SpinLockRelease(&manager->mutex);
	mmr_wake_database(MyDatabaseId);
}

/* True when no apply worker of this database is inside a remote transaction. */
static bool
apply_workers_held(void)
{
	bool		held = true;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	for (int i = 0; i < MMR_MAX_WORKERS && held; i++)
	{
		MmrWorkerSlot *slot = &MmrShmem->workers[i];

		if (slot->kind != MMR_WORKER_APPLY || slot->dboid != MyDatabaseId)
			continue;
		SpinLockAcquire(&slot->mutex);
		held = slot->pid == 0 || (slot->state != MMR_APPLY_CATCHING_UP &&
								  slot->state != MMR_APPLY_STREAMING);
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(MmrShmem->lock);
	return held;
}

/*
 * mmr.join_hold_apply(): a joining node's session on its join node holds
 * the apply of every peer here until the session ends, and returns once
 * no apply worker is inside a remote transaction.  Then this node's
 * snapshot and its replication origins' progress agree.
 */
Datum
mmr_join_hold_apply(PG_FUNCTION_ARGS)
{
	MmrWorkerSlot *manager = manager_slot();
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   JOIN_HOLD_TIMEOUT_MS);
	pid_t		holder;

	SpinLockAcquire(&manager->mutex);
	holder = manager->apply_hold_pid;
	if (holder == 0 || holder == MyProcPid || BackendPidGetProc(holder) == NULL)
	{
		manager->apply_hold_pid = MyProcPid;
		holder = 0;
	}
	SpinLockRelease(&manager->mutex);
	if (holder != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("apply is already held by another join (process %d)", (int) holder),
				 errhint("Wait for the other join to take its snapshot and try again.")));
	before_shmem_exit(release_apply_hold, PointerGetDatum(manager));
	mmr_wake_database(MyDatabaseId);

	while (!apply_workers_held())
	{
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("apply workers did not stop between transactions within %d s",
							JOIN_HOLD_TIMEOUT_MS / 1000)));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_VOID();
}

/*
 * mmr.join_progress(): the running join worker's phase and counters, for
 * mmr.join_status (the catalog has them only at the end of the copy).
 */
Datum
mmr_join_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MmrWorkerSlot *slot;

	InitMaterializedSRF(fcinfo, 0);
	if (MmrShmem == NULL)
		return (Datum) 0;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	slot = mmr_slot_find(MMR_WORKER_JOIN, MyDatabaseId, 0);
	if (slot != NULL)
	{
		MmrWorkerSlot copy;

		SpinLockAcquire(&slot->mutex);
		memcpy(&copy, slot, sizeof(copy));
		SpinLockRelease(&slot->mutex);
		if (copy.pid != 0 && copy.join_phase[0] != '\0')
		{
			Datum		values[4];
			bool		nulls[4] = {0};

			values[0] = CStringGetTextDatum(copy.join_phase);
			values[1] = Int32GetDatum(copy.tables_total);
			values[2] = Int32GetDatum(copy.tables_done);
			values[3] = Int64GetDatum((int64) copy.bytes_copied);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	LWLockRelease(MmrShmem->lock);
	return (Datum) 0;
}
