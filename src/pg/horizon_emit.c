/*-------------------------------------------------------------------------
 *
 * horizon_emit.c
 *	  Local write transactions carry this node's applied horizon to the
 *	  peers, in logical messages with prefix MMR_HORIZON_PREFIX; the manager
 *	  sends it as a heartbeat too (docs/conflicts.md).
 *
 * NOTES
 *	  The message is transactional and logged at the first data-changing
 *	  statement of a transaction (ExecutorStart, and COPY FROM, which does
 *	  not go through the executor's start), so peers decode it before the
 *	  changes it covers; a later statement logs it again if the horizon
 *	  grew in between (apply workers kept committing).  A subtransaction
 *	  that aborts takes its message with it, so the next statement logs it
 *	  again.  Apply workers (which run under a replication origin) and the
 *	  manager log none: their writes are not local changes.
 *
 *	  The heartbeat is the same content in a non-transactional message, so
 *	  that an idle node's horizon still reaches its peers and does not pin
 *	  their tombstones.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "replication/origin.h"
#include "storage/proc.h"
#include "tcop/utility.h"

#include "horizon_emit.h"
#include "mmr.h"
#include "node_cache.h"
#include "shmem.h"

/* 1 + 2 + n * (2 + 8) bytes (mmr_core.h) */
#define HORIZON_MESSAGE_MAX (3 + MMR_MAX_HORIZON * 10)

static ExecutorStart_hook_type prev_executor_start = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;
static bool emit_disabled = false;

/* What this transaction logged last. */
static LocalTransactionId logged_lxid = InvalidLocalTransactionId;
static MmrHorizonEntry logged[MMR_MAX_HORIZON];
static int	nlogged = 0;

/*
 * log_horizon logs entries as a horizon message; returns its LSN.
 */
static XLogRecPtr
log_horizon(const MmrHorizonEntry *entries, int n, bool transactional)
{
	char		buf[HORIZON_MESSAGE_MAX];
	MmrError	err;
	size_t		len = mmr_horizon_encode(entries, n, buf, sizeof(buf), &err);

	if (len == 0)
		mmr_core_raise(&err);
	if (len > sizeof(buf))
		elog(ERROR, "horizon message of %zu bytes does not fit", len);
	return LogLogicalMessage(MMR_HORIZON_PREFIX, buf, len, transactional);
}

static bool
is_write(QueryDesc *queryDesc)
{
	switch (queryDesc->operation)
	{
		case CMD_INSERT:
		case CMD_UPDATE:
		case CMD_DELETE:
		case CMD_MERGE:
			return true;
		default:
			return queryDesc->plannedstmt->hasModifyingCTE;
	}
}

/*
 * note_local_write logs the horizon unless this transaction already logged
 * the same one.
 */
static void
note_local_write(void)
{
	MmrHorizonEntry entries[MMR_MAX_HORIZON];
	int			n;

	if (mmr_local_node_id() == 0)
		return;
	n = mmr_local_horizon(MyDatabaseId, entries, MMR_MAX_HORIZON);
	if (n == 0)
		return;
	if (MyProc->lxid != logged_lxid)
	{
		logged_lxid = MyProc->lxid;
		nlogged = 0;
	}
	if (n == nlogged && memcmp(entries, logged, n * sizeof(MmrHorizonEntry)) == 0)
		return;

	(void) log_horizon(entries, n, true);
	memcpy(logged, entries, n * sizeof(MmrHorizonEntry));
	nlogged = n;
}

/* Writes of apply workers and of the manager are not local changes. */
static inline bool
local_write_context(void)
{
	return !emit_disabled && replorigin_session_origin == InvalidRepOriginId &&
		!IsParallelWorker();
}

static void
horizon_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	/* After the permission and read-only checks, before any change. */
	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 && local_write_context() &&
		is_write(queryDesc))
		note_local_write();
}

static void
horizon_process_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	/* TRUNCATE too: its peers decide which rows it had seen (truncate_apply.c). */
	if (((IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->is_from) ||
		 IsA(parsetree, TruncateStmt)) &&
		local_write_context())
		note_local_write();

	mmr_next_process_utility(prev_process_utility, pstmt, queryString,
							 readOnlyTree, context, params, queryEnv, dest, qc);
}

static void
horizon_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		nlogged = 0;
}

/*
 * mmr_horizon_emit_init installs the hooks (_PG_init, when preloaded).
 */
void
mmr_horizon_emit_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = horizon_executor_start;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = horizon_process_utility;
	RegisterSubXactCallback(horizon_subxact_callback, NULL);
}

/*
 * mmr_horizon_emit_disable stops this process from logging horizons with
 * its writes (the manager's own bookkeeping is not a local change).
 */
void
mmr_horizon_emit_disable(void)
{
	emit_disabled = true;
}

/*
 * mmr_horizon_heartbeat logs this node's horizon as a non-transactional
 * message and flushes it, so the walsenders send it now (nothing else may
 * flush WAL on an idle node).
 */
void
mmr_horizon_heartbeat(void)
{
	MmrHorizonEntry entries[MMR_MAX_HORIZON];
	int			n = mmr_local_horizon(MyDatabaseId, entries, MMR_MAX_HORIZON);

	if (n == 0)
		return;
	XLogFlush(log_horizon(entries, n, false));
}
