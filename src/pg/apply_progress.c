/*-------------------------------------------------------------------------
 *
 * apply_progress.c
 *	  Which remote LSN the apply worker may report to its peer as flushed,
 *	  and the commit time of the last remote transaction applied before it
 *	  started.
 *
 * NOTES
 *	  Applied transactions commit with synchronous_commit = off: the commit
 *	  returns before its WAL is on disk.  The origin progress recorded in
 *	  that commit record is what makes apply restart at the right place
 *	  after a crash, but only once the record is flushed.  The flush
 *	  position we report to the peer becomes its slot's confirmed_flush_lsn,
 *	  and the peer never sends anything before that again: reporting a
 *	  transaction whose local commit could still be lost would lose it for
 *	  good.
 *
 *	  So every applied commit is remembered as the pair (remote end LSN,
 *	  local commit end LSN), in commit order.  The reportable flush position
 *	  is the remote end of the newest pair whose local end is at or before
 *	  the local WAL flush pointer; flushed pairs are forgotten.  The list
 *	  stays short: the WAL writer flushes asynchronous commits within
 *	  wal_writer_delay.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "lib/ilist.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"

#include "apply_internal.h"

/* How far back mmr_progress_last_commit_time looks, in transactions. */
#define LAST_COMMIT_SCAN_XIDS 1000000

typedef struct FlushPair
{
	dlist_node	node;
	XLogRecPtr	remote_end;		/* end of the remote commit record */
	XLogRecPtr	local_end;		/* end of our commit record */
} FlushPair;

static MemoryContext progress_context = NULL;
static dlist_head pending_pairs = DLIST_STATIC_INIT(pending_pairs);
static dlist_head free_pairs = DLIST_STATIC_INIT(free_pairs);

/* Newest remote end whose local commit is known to be flushed. */
static XLogRecPtr flushed_remote = InvalidXLogRecPtr;

/* Newest remote end applied (committed locally, flushed or not). */
static XLogRecPtr applied_remote = InvalidXLogRecPtr;

/*
 * mmr_progress_init starts tracking at start_lsn, the origin progress the
 * stream starts from: everything before it is applied and flushed.
 */
void
mmr_progress_init(XLogRecPtr start_lsn)
{
	if (progress_context == NULL)
		progress_context = AllocSetContextCreate(TopMemoryContext,
												 "mmr apply progress",
												 ALLOCSET_SMALL_SIZES);
	flushed_remote = start_lsn;
	applied_remote = start_lsn;
}

/*
 * mmr_progress_note_commit records that the remote transaction ending at
 * remote_end was committed locally, with its commit record ending at
 * local_end.  Called right after each applied commit, in commit order.
 */
void
mmr_progress_note_commit(XLogRecPtr remote_end, XLogRecPtr local_end)
{
	FlushPair  *pair;

	Assert(progress_context != NULL);

	/* Pairs are recycled: a busy stream commits thousands per second. */
	if (!dlist_is_empty(&free_pairs))
		pair = dlist_container(FlushPair, node, dlist_pop_head_node(&free_pairs));
	else
		pair = MemoryContextAlloc(progress_context, sizeof(FlushPair));

	pair->remote_end = remote_end;
	pair->local_end = local_end;
	dlist_push_tail(&pending_pairs, &pair->node);

	if (remote_end > applied_remote)
		applied_remote = remote_end;
}

/*
 * mmr_progress_get returns the newest applied remote LSN and the newest one
 * that is safe to report as flushed.  Returns true while some applied
 * commits still wait for the local WAL flush (the caller then polls more
 * often, so that the peer's slot does not lag behind).
 */
bool
mmr_progress_get(XLogRecPtr *applied, XLogRecPtr *flushed)
{
	XLogRecPtr	local_flush = InvalidXLogRecPtr;
	dlist_mutable_iter iter;

	if (!dlist_is_empty(&pending_pairs))
		local_flush = GetFlushRecPtr(NULL);

	dlist_foreach_modify(iter, &pending_pairs)
	{
		FlushPair  *pair = dlist_container(FlushPair, node, iter.cur);

		/* Pairs are in commit order: the first unflushed one stops us. */
		if (pair->local_end > local_flush)
			break;
		if (pair->remote_end > flushed_remote)
			flushed_remote = pair->remote_end;
		dlist_delete(&pair->node);
		dlist_push_head(&free_pairs, &pair->node);
	}

	*applied = applied_remote;
	*flushed = flushed_remote;
	return !dlist_is_empty(&pending_pairs);
}

/*
 * mmr_progress_last_commit_time returns the origin's commit time of the
 * last remote transaction that was applied here under originid, or 0 when
 * none is found.  Origins keep only LSNs, but each applied commit records
 * the origin and the origin's commit time in commit_ts (apply_handlers.c),
 * so the newest local transaction with that origin tells.  The look goes
 * back at most LAST_COMMIT_SCAN_XIDS transactions (a fraction of a second,
 * once per worker start); past that, or without commit_ts, the time stays
 * unknown until the first applied commit, which only makes this node's
 * horizon claim less than it has seen.
 */
TimestampTz
mmr_progress_last_commit_time(RepOriginId originid)
{
	TransactionId xid = XidFromFullTransactionId(ReadNextFullTransactionId());
	TransactionId oldest;

	if (!track_commit_timestamp)
		return 0;
	LWLockAcquire(CommitTsLock, LW_SHARED);
	oldest = ShmemVariableCache->oldestCommitTsXid;
	LWLockRelease(CommitTsLock);
	if (!TransactionIdIsNormal(oldest))
		return 0;

	for (int i = 0; i < LAST_COMMIT_SCAN_XIDS; i++)
	{
		TimestampTz ts;
		RepOriginId nodeid;

		TransactionIdRetreat(xid);
		if (!TransactionIdIsNormal(xid) || TransactionIdPrecedes(xid, oldest))
			break;
		if (TransactionIdGetCommitTsData(xid, &ts, &nodeid) && nodeid == originid)
			return ts;
	}
	return 0;
}
