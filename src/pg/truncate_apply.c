/*-------------------------------------------------------------------------
 *
 * truncate_apply.c
 *	  A remote TRUNCATE is a delete of every local row that it has seen or
 *	  that loses to it, plus a table tombstone (docs/conflicts.md,
 *	  "TRUNCATE").  This file gathers each row's version, asks the core
 *	  (mmr_truncate_row_decide) and carries the decisions out for
 *	  apply_exec.c's mmr_exec_truncate; and it lets the table tombstone
 *	  answer later remote writes of missing rows.
 *
 * NOTES
 *	  A row's version is its xmin's origin and commit time, as for any
 *	  conflict (apply_conflict.c's row_version); a row written by the apply
 *	  transaction itself is the sender's.  Consecutive rows mostly share an
 *	  xmin, so the version and the decision are taken once per run of rows
 *	  with the same xmin.
 *
 *	  Checking costs one sequential scan of the table (under the TRUNCATE's
 *	  AccessExclusiveLock), stopped at the first row that wins; the rows
 *	  are only read.  When no row wins, the real TRUNCATE runs; when some
 *	  row was concurrent, it is logged first, in a second scan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "apply_internal.h"
#include "conflict_log.h"
#include "mmr.h"
#include "node_cache.h"
#include "resolvers.h"
#include "shmem.h"
#include "truncate.h"

/* 1 + MmrShmem->truncate_tombstone_writes when no table had a truncate tombstone. */
static uint64 no_truncate_tombstone_at = 0;

/* One table's rows against the remote TRUNCATE. */
typedef struct TruncateScan
{
	MmrApplyRelation *rel;
	MmrConflictFacts base;
	AttrNumber	keyattrs[INDEX_MAX_KEYS];	/* the lookup key, for the log */
	int			nkeyattrs;

	/* The last xmin met, its version and decision. */
	bool		have_last;
	TransactionId last_xmin;
	MmrVersion	version;
	MmrConflictDecision decision;
} TruncateScan;

static void scan_init(TruncateScan *ts, MmrApplyRelation *rel);
static const MmrConflictDecision *decide_row(TruncateScan *ts,
											 TupleTableSlot *slot);
static void raise_truncate_error(TruncateScan *ts, TupleTableSlot *slot)
			pg_attribute_noreturn();

/* The facts every row's decision shares: the TRUNCATE's. */
static void
scan_init(TruncateScan *ts, MmrApplyRelation *rel)
{
	memset(ts, 0, sizeof(*ts));
	ts->rel = rel;
	if (rel->resolvers_xact != mmr_remote_xact.seq)
	{
		rel->resolvers = *mmr_table_resolvers(rel->localrel);
		rel->resolvers_xact = mmr_remote_xact.seq;
	}
	mmr_version_for_node(mmr_apply_slot->peer_node_id,
						 mmr_remote_xact.commit_time, &ts->base.remote);
	ts->base.horizon = mmr_remote_xact.horizon;
	ts->base.nhorizon = mmr_remote_xact.nhorizon;
	ts->base.local_node = mmr_local_node_id();
	memcpy(ts->base.resolvers, rel->resolvers.resolvers,
		   sizeof(ts->base.resolvers));
	for (int i = 0; i < rel->natts; i++)
		if (rel->local[i].lookup_key && ts->nkeyattrs < INDEX_MAX_KEYS)
			ts->keyattrs[ts->nkeyattrs++] = i + 1;
}

static const MmrConflictDecision *
decide_row(TruncateScan *ts, TupleTableSlot *slot)
{
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, NULL);
	TransactionId xmin = HeapTupleHeaderGetXmin(tuple->t_data);
	MmrConflictFacts f;
	MmrError	err;

	if (ts->have_last && xmin == ts->last_xmin)
		return &ts->decision;
	if (TransactionIdIsCurrentTransactionId(xmin))
		ts->version = ts->base.remote;
	else
		mmr_version_from_xid(xmin, &ts->version);
	f = ts->base;
	f.row = ts->version;
	if (mmr_truncate_row_decide(&f, &ts->decision, &err) != MMR_OK)
		mmr_core_raise(&err);
	ts->have_last = true;
	ts->last_xmin = xmin;
	return &ts->decision;
}

/*
 * mmr_truncate_check reads rel's rows until one wins against the TRUNCATE
 * (or stops apply) and says how the TRUNCATE is to treat them.
 */
MmrTruncateVerdict
mmr_truncate_check(MmrApplyRelation *rel)
{
	MmrTruncateVerdict verdict = MMR_TRUNCATE_SILENT;
	TruncateScan ts;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;

	/* A partitioned table's rows are in its partitions, listed on their own. */
	if (rel->localrel->rd_rel->relkind != RELKIND_RELATION)
		return MMR_TRUNCATE_SILENT;

	scan_init(&ts, rel);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel->localrel, NULL);
	scan = table_beginscan(rel->localrel, snapshot, 0, NULL);
	while (verdict != MMR_TRUNCATE_KEEPS &&
		   table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		const MmrConflictDecision *d = decide_row(&ts, slot);

		CHECK_FOR_INTERRUPTS();
		if (d->action != MMR_ACTION_DELETE)
			verdict = MMR_TRUNCATE_KEEPS;
		else if (d->conflict != MMR_CONFLICT_NONE)
			verdict = MMR_TRUNCATE_LOGGED;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	return verdict;
}

/*
 * mmr_truncate_rows logs each row the TRUNCATE had not seen (one
 * delete_origin_differs row each: apply_remote for a row that loses,
 * keep_local for one that wins) and, when delete_losers, deletes the rows
 * that lose or were seen; otherwise the caller truncates.  An error
 * resolution stops apply, as for a row DELETE.
 */
void
mmr_truncate_rows(MmrApplyRelation *rel, bool delete_losers)
{
	TruncateScan ts;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	MmrApplyExec *ex;
	MemoryContext row_context;

	if (rel->localrel->rd_rel->relkind != RELKIND_RELATION)
		return;
	scan_init(&ts, rel);
	ex = mmr_exec_begin(rel);
	/*
	 * A row's log row and delete (its EPQ state, its replica identity) are
	 * freed row by row: memory stays bounded however big the table.
	 */
	row_context = AllocSetContextCreate(CurrentMemoryContext, "mmr truncate row",
										ALLOCSET_DEFAULT_SIZES);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel->localrel, NULL);
	scan = table_beginscan(rel->localrel, snapshot, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		MemoryContext old_context = MemoryContextSwitchTo(row_context);
		const MmrConflictDecision *d = decide_row(&ts, slot);
		bool		deleted = d->action == MMR_ACTION_DELETE;

		CHECK_FOR_INTERRUPTS();
		if (d->action == MMR_ACTION_ERROR)
			raise_truncate_error(&ts, slot);
		if (d->conflict != MMR_CONFLICT_NONE)
		{
			mmr_conflict_log_write(mmr_conflict_log_row(rel, d, &ts.version,
														&ts.base.remote, slot,
														ts.keyattrs, ts.nkeyattrs,
														slot, NULL,
														deleted ? NULL : slot));
			mmr_remote_xact.nconflicts++;
		}
		if (deleted && delete_losers)
			mmr_exec_delete(ex, slot);
		MemoryContextSwitchTo(old_context);
		MemoryContextReset(row_context);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	MemoryContextDelete(row_context);
	mmr_exec_end(ex);
}

/*
 * raise_truncate_error: the table's delete_origin_differs resolver is
 * error.  Its log row is written by the worker's error path.
 */
static void
raise_truncate_error(TruncateScan *ts, TupleTableSlot *slot)
{
	mmr_conflict_log_set_error(mmr_conflict_log_row(ts->rel, &ts->decision,
													&ts->version, &ts->base.remote,
													slot, ts->keyattrs, ts->nkeyattrs,
													slot, NULL, NULL));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("remote TRUNCATE of table \"%s.%s\" meets a row it has not seen, and conflict %s is resolved as error",
					ts->rel->nspname, ts->rel->relname,
					mmr_conflict_type_name(ts->decision.conflict)),
			 errdetail("The TRUNCATE is not applied; apply from this peer stops and retries. The conflict is in mmr.conflict_log."),
			 errhint("Change the local data, or the table's resolver with mmr.set_conflict_resolver().")));
}

/*
 * mmr_truncate_note_applied records the TRUNCATE's table tombstone, unless
 * the one there wins against it.  Tables without tombstones (no key) get
 * none, as they get no key tombstones.
 */
void
mmr_truncate_note_applied(MmrApplyRelation *rel)
{
	TruncateScan ts;
	TransactionId xmin;
	MmrError	err;
	int			replace;

	if (!rel->has_tombstones)
		return;
	scan_init(&ts, rel);
	if (mmr_truncate_tombstone_find(rel->local_relid, &xmin))
	{
		ts.base.tombstone_exists = 1;
		if (TransactionIdIsCurrentTransactionId(xmin))
			ts.base.tombstone = ts.base.remote;
		else
			mmr_version_from_xid(xmin, &ts.base.tombstone);
	}
	if (mmr_truncate_tombstone_replace(&ts.base, &replace, &err) != MMR_OK)
		mmr_core_raise(&err);
	if (replace)
		mmr_truncate_tombstone_record(rel->local_relid);
}

/*
 * mmr_truncate_tombstone_meet: the common path costs one read of the
 * shared count of truncate tombstone writes (key tombstones have their
 * own), until some table has a truncate tombstone; then one index lookup
 * per change whose row is missing, until the collection removes it.
 */
void
mmr_truncate_tombstone_meet(MmrApplyRelation *rel, MmrConflictFacts *f)
{
	uint64		writes;
	TransactionId xmin;
	MmrVersion	truncate;
	MmrError	err;
	int			use_truncate;

	if (!rel->has_tombstones || f->row_exists ||
		(f->change != MMR_CHANGE_INSERT && f->change != MMR_CHANGE_UPDATE))
		return;
	pg_memory_barrier();
	writes = pg_atomic_read_u64(&MmrShmem->truncate_tombstone_writes);
	if (no_truncate_tombstone_at == writes + 1)
		return;
	if (!mmr_truncate_tombstone_any())
	{
		no_truncate_tombstone_at = writes + 1;
		return;
	}
	if (!mmr_truncate_tombstone_find(rel->local_relid, &xmin))
		return;
	if (TransactionIdIsCurrentTransactionId(xmin))
		truncate = f->remote;
	else
		mmr_version_from_xid(xmin, &truncate);
	if (mmr_truncate_tombstone_answers(f, &truncate, &use_truncate, &err) != MMR_OK)
		mmr_core_raise(&err);
	if (use_truncate)
	{
		f->tombstone_exists = 1;
		f->tombstone = truncate;
	}
}
