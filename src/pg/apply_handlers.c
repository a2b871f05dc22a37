/*-------------------------------------------------------------------------
 *
 * apply_handlers.c
 *	  Dispatches the peer's messages one by one and frames the remote
 *	  transactions: BEGIN and COMMIT frame one local transaction per remote
 *	  transaction, each change runs as one step of it, and the sender's
 *	  horizon messages are taken in.  Row changes are applied by
 *	  apply_conflict.c (decide) and apply_exec.c (locate and act).
 *
 * NOTES
 *	  The local transaction starts at the first change, so a remote
 *	  transaction that changes nothing here commits nothing here.  Each
 *	  change runs as one "step": a fresh snapshot pushed, the change, then
 *	  CommandCounterIncrement so the next change sees it.
 *
 *	  The commit sets replorigin_session_origin_lsn and _timestamp: the
 *	  commit record then carries the peer's commit LSN (our restart point,
 *	  atomically with the data) and commit_ts records the origin's commit
 *	  time and the origin, which conflict decisions read back later.
 *
 *	  Clock skew (docs/conflicts.md): a remote commit time ahead of the
 *	  local clock is waited out at BEGIN, before any lock is taken, as
 *	  mmr_clock_skew_decide says.
 *
 *	  Each table's changes run as the table's owner (SPEC 7, PostgreSQL
 *	  16's run_as_owner = false): its defaults, constraints, index
 *	  expressions and triggers never get the worker's superuser rights.
 *	  The user is switched, with SECURITY_RESTRICTED_OPERATION and a GUC
 *	  nest level of its own, only when a change's table has another owner
 *	  than the previous change's, and switched back before COMMIT; an
 *	  error's abort restores it by itself.  A TRUNCATE runs as the owner of
 *	  its tables when they have one, else as the worker.  As in PostgreSQL,
 *	  a deferred trigger cannot be queued within a security-restricted
 *	  operation: a change that would queue one is an ERROR.
 *
 *	  Everything allocated while applying a message lives in the message
 *	  context, which the loop resets after each message.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apply_internal.h"
#include "apply_relmap.h"
#include "ddl.h"
#include "mmr.h"

/* Status updates to the peer while waiting out clock skew, this often. */
#define SKEW_WAIT_FEEDBACK_MS 1000

/* At most one clock skew WARNING per peer this often (each one is counted). */
#define CLOCK_SKEW_WARNING_INTERVAL_MS 60000

MmrRemoteXact mmr_remote_xact;

static uint64 remote_xact_seq = 0;
static TimestampTz last_skew_warning = 0;

/*
 * Whom the current local transaction runs as: the owner of the table of
 * the last change (InvalidOid: the worker's own user).
 */
typedef struct ApplyUser
{
	Oid			run_as;			/* the table owner switched to, or InvalidOid */
	Oid			worker_userid;	/* what to switch back to */
	int			worker_sec_context;
	int			nestlevel;		/* GUC nest level of the switch */
} ApplyUser;

static ApplyUser apply_user;

static void apply_begin(const MmrBegin *begin);
static void apply_commit(const MmrCommit *commit);
static void apply_change(MmrChangeKind kind, const MmrChange *change);
static void apply_truncate(const MmrTruncate *truncate);
static void apply_logical_message(const MmrLogicalMessage *message);
static void apply_wait_for_clock(const MmrBegin *begin);
static void require_remote_xact(const char *what);
static void begin_step(void);
static void end_step(void);
static void note_skipped(uint32 remote_relid);
static void run_as_worker(void);

/*
 * mmr_apply_in_remote_xact tells whether a remote transaction is open (the
 * loop then neither pauses nor reports positions inside it).
 */
bool
mmr_apply_in_remote_xact(void)
{
	return mmr_remote_xact.active;
}

/*
 * mmr_apply_handle_message applies one decoded message.  The decoded
 * pointers are valid only during this call.
 */
void
mmr_apply_handle_message(const MmrMessage *msg)
{
	switch (msg->kind)
	{
		case MMR_MSG_BEGIN:
			mmr_apply_errctx.message_type = "BEGIN";
			apply_begin(&msg->u.begin);
			break;
		case MMR_MSG_COMMIT:
			mmr_apply_errctx.message_type = "COMMIT";
			apply_commit(&msg->u.commit);
			break;
		case MMR_MSG_RELATION:
			mmr_apply_errctx.message_type = "RELATION";
			mmr_relmap_update(&msg->u.relation);
			break;
		case MMR_MSG_INSERT:
			mmr_apply_errctx.message_type = "INSERT";
			apply_change(MMR_CHANGE_INSERT, &msg->u.change);
			break;
		case MMR_MSG_UPDATE:
			mmr_apply_errctx.message_type = "UPDATE";
			apply_change(MMR_CHANGE_UPDATE, &msg->u.change);
			break;
		case MMR_MSG_DELETE:
			mmr_apply_errctx.message_type = "DELETE";
			apply_change(MMR_CHANGE_DELETE, &msg->u.change);
			break;
		case MMR_MSG_TRUNCATE:
			mmr_apply_errctx.message_type = "TRUNCATE";
			apply_truncate(&msg->u.truncate);
			break;
		case MMR_MSG_MESSAGE:
			mmr_apply_errctx.message_type = "MESSAGE";
			apply_logical_message(&msg->u.message);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("unexpected mmr message kind 0x%02x", msg->kind)));
	}
	mmr_apply_errctx.message_type = NULL;
	mmr_apply_errctx.nspname = NULL;
	mmr_apply_errctx.relname = NULL;
	mmr_apply_errctx.column = NULL;
}

static void
require_remote_xact(const char *what)
{
	if (!mmr_remote_xact.active)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent %s outside a transaction", what)));
}

/*
 * apply_begin remembers the remote transaction; the local one starts at
 * its first change.  The sender's horizon is unknown until a horizon
 * message of the transaction says it.
 */
static void
apply_begin(const MmrBegin *begin)
{
	if (mmr_remote_xact.active)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent BEGIN inside transaction %u",
						mmr_remote_xact.xid)));

	mmr_remote_xact.active = true;
	mmr_remote_xact.seq = ++remote_xact_seq;
	mmr_remote_xact.xid = begin->xid;
	mmr_remote_xact.final_lsn = begin->final_lsn;
	mmr_remote_xact.commit_time = begin->commit_time;
	mmr_remote_xact.nchanges = 0;
	mmr_remote_xact.nconflicts = 0;
	mmr_remote_xact.changed_node_catalog = false;
	mmr_remote_xact.nhorizon = 0;
	mmr_remote_xact.skipping = mmr_skip_matches(begin->final_lsn);
	mmr_remote_xact.nskipped = 0;
	mmr_remote_xact.nskipped_relations = 0;
	mmr_remote_xact.more_skipped_relations = false;

	mmr_apply_errctx.remote_xid = begin->xid;
	mmr_apply_errctx.final_lsn = begin->final_lsn;

	/* commit_ts records the origin's time, whenever we commit. */
	replorigin_session_origin_timestamp = begin->commit_time;

	apply_wait_for_clock(begin);
	pgstat_report_activity(STATE_RUNNING, "applying a remote transaction");
}

/*
 * apply_wait_for_clock waits until the local clock has passed the remote
 * commit time, when mmr_clock_skew_decide says so, and warns (at most once
 * a minute, counting every one) when the peer is ahead by more than
 * mmr.max_clock_skew.
 */
static void
apply_wait_for_clock(const MmrBegin *begin)
{
	MmrSkewDecision skew;
	TimestampTz now = GetCurrentTimestamp();

	mmr_clock_skew_decide(begin->commit_time, now,
						  (int64) mmr_max_clock_skew_ms * 1000,
						  mmr_clock_skew_action, &skew);
	if (skew.warn)
	{
		SpinLockAcquire(&mmr_apply_slot->mutex);
		mmr_apply_slot->clock_skew_events++;
		SpinLockRelease(&mmr_apply_slot->mutex);
		if (TimestampDifferenceExceeds(last_skew_warning, now,
									   CLOCK_SKEW_WARNING_INTERVAL_MS))
		{
			last_skew_warning = now;
			ereport(WARNING,
					(errmsg("commit time of peer \"%s\" is %.3f s ahead of the local clock",
							mmr_apply_errctx.peer_name,
							(double) skew.ahead_by / 1000000.0),
					 errdetail("mmr.max_clock_skew is %d ms; mmr.clock_skew_action is %s.",
							   mmr_max_clock_skew_ms,
							   mmr_clock_skew_action == MMR_SKEW_ACTION_WAIT ? "wait" : "warn"),
					 errhint("Synchronize the clocks of the nodes (NTP).")));
		}
	}
	if (skew.wait_until == 0)
		return;

	pgstat_report_activity(STATE_RUNNING,
						   "waiting for the local clock to pass the peer's commit time");
	for (;;)
	{
		long		ms;

		now = GetCurrentTimestamp();
		if (now >= skew.wait_until)
			break;
		ms = TimestampDifferenceMilliseconds(now, skew.wait_until);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(Max(ms, 1), SKEW_WAIT_FEEDBACK_MS), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* A long wait (action wait) must not look like a dead receiver. */
		mmr_apply_send_status();
	}
}

/*
 * apply_commit commits the local transaction with the remote commit's
 * position as origin progress, remembers the pair (remote end, local end)
 * for flush reporting, and updates the counters of mmr.replication_status
 * and this node's horizon entry for the peer (after the commit: a local
 * transaction must not claim to have seen what is not visible yet).
 */
static void
apply_commit(const MmrCommit *commit)
{
	bool		wake_manager = mmr_remote_xact.changed_node_catalog;

	require_remote_xact("COMMIT");
	if (commit->commit_lsn != mmr_remote_xact.final_lsn)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent COMMIT at %X/%X for a transaction announced to commit at %X/%X",
						LSN_FORMAT_ARGS(commit->commit_lsn),
						LSN_FORMAT_ARGS(mmr_remote_xact.final_lsn))));

	run_as_worker();

	/* A skip request is consumed or cleared in this commit. */
	if (mmr_skip_pending())
	{
		if (!IsTransactionState())
			StartTransactionCommand();
		mmr_skip_commit(&mmr_remote_xact, commit);
		if (mmr_remote_xact.skipping)
			mmr_remote_xact.nconflicts++;
	}

	if (IsTransactionState())
	{
		mmr_conflict_note_commit(GetTopTransactionIdIfAny());
		replorigin_session_origin_lsn = commit->end_lsn;
		replorigin_session_origin_timestamp = commit->commit_time;
		CommitTransactionCommand();
		MemoryContextSwitchTo(mmr_apply_message_context);

		/*
		 * A transaction that wrote nothing leaves XactLastCommitEnd as it
		 * was, which is fine: it has nothing to lose.
		 */
		mmr_progress_note_commit(commit->end_lsn, XactLastCommitEnd);
	}
	else
		mmr_progress_note_commit(commit->end_lsn, InvalidXLogRecPtr);

	SpinLockAcquire(&mmr_apply_slot->mutex);
	mmr_apply_slot->applied_transactions++;
	mmr_apply_slot->applied_changes += mmr_remote_xact.nchanges;
	mmr_apply_slot->conflicts += mmr_remote_xact.nconflicts;
	mmr_apply_slot->applied_lsn = commit->end_lsn;
	mmr_apply_slot->last_applied_commit_time = commit->commit_time;
	if (commit->commit_time > mmr_apply_slot->max_applied_commit_time)
		mmr_apply_slot->max_applied_commit_time = commit->commit_time;
	SpinLockRelease(&mmr_apply_slot->mutex);

	mmr_remote_xact.active = false;
	mmr_apply_errctx.remote_xid = InvalidTransactionId;
	mmr_apply_errctx.final_lsn = InvalidXLogRecPtr;
	pgstat_report_activity(STATE_IDLE, NULL);

	/* A node appeared, changed or parted: the manager re-reads mmr.node. */
	if (wake_manager)
		mmr_wake_database(MyDatabaseId);
}

/*
 * apply_logical_message takes in the sender's horizon ("mmr.horizon"): a
 * transactional one is the horizon of the changes that follow it in the
 * transaction; every one (the heartbeat is not transactional) is the
 * peer's latest horizon, for tombstone collection.  Other prefixes are
 * not ours; they still belong to their transaction, so require one.
 */
static void
apply_logical_message(const MmrLogicalMessage *message)
{
	bool		transactional = (message->flags & MMR_MESSAGE_TRANSACTIONAL) != 0;
	MmrHorizonEntry entries[MMR_MAX_HORIZON];
	MmrError	err;
	int32		n;

	if (transactional)
		require_remote_xact("MESSAGE");

	/* A replicated DDL command (ddl_apply.c) is one step of its transaction. */
	if (transactional && message->prefix.len == strlen(MMR_DDL_PREFIX) &&
		memcmp(message->prefix.data, MMR_DDL_PREFIX, message->prefix.len) == 0)
	{
		begin_step();
		mmr_ddl_apply(message->content.data, message->content.len);
		end_step();
		return;
	}

	if (message->prefix.len != strlen(MMR_HORIZON_PREFIX) ||
		memcmp(message->prefix.data, MMR_HORIZON_PREFIX, message->prefix.len) != 0)
		return;

	n = mmr_horizon_decode(message->content.data, message->content.len,
						   entries, MMR_MAX_HORIZON, &err);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer \"%s\" sent a malformed horizon message",
						mmr_apply_errctx.peer_name),
				 errdetail_internal("%s", err.message)));

	/* Entries beyond our room are dropped: missing ones count as unseen. */
	n = Min(n, MMR_MAX_HORIZON);
	if (transactional)
	{
		memcpy(mmr_remote_xact.horizon, entries, sizeof(MmrHorizonEntry) * n);
		mmr_remote_xact.nhorizon = n;
	}
	mmr_slot_set_peer_horizon(mmr_apply_slot, entries, n);
}

/*
 * begin_step starts the local transaction if needed and gives the change
 * a fresh snapshot.
 */
static void
begin_step(void)
{
	if (!IsTransactionState())
	{
		StartTransactionCommand();
		apply_user.run_as = InvalidOid;
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(mmr_apply_message_context);
}

/*
 * end_step makes the change visible to the next one of the transaction.
 */
static void
end_step(void)
{
	PopActiveSnapshot();
	CommandCounterIncrement();
	mmr_remote_xact.nchanges++;
}

/*
 * mmr_apply_open_target opens the local table of a change, naming it in
 * errors (also in those of resolving it).  The lock is kept until commit,
 * like any writer's.
 */
MmrApplyRelation *
mmr_apply_open_target(uint32 remote_relid, LOCKMODE lockmode)
{
	MmrApplyRelation *rel = mmr_relmap_lookup(remote_relid);

	mmr_apply_errctx.nspname = rel->nspname;
	mmr_apply_errctx.relname = rel->relname;
	rel = mmr_relmap_open(remote_relid, lockmode);
	if (rel->is_node_catalog)
		mmr_remote_xact.changed_node_catalog = true;
	return rel;
}

/*
 * apply_change applies one INSERT, UPDATE or DELETE as one step.
 */
static void
apply_change(MmrChangeKind kind, const MmrChange *change)
{
	MmrApplyRelation *rel;

	require_remote_xact(mmr_apply_errctx.message_type);
	if (kind == MMR_CHANGE_DELETE && change->old_kind == MMR_OLD_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent DELETE without the old row's key")));

	if (mmr_remote_xact.skipping)
	{
		note_skipped(change->relid);
		return;
	}
	begin_step();
	rel = mmr_apply_open_target(change->relid, RowExclusiveLock);
	mmr_apply_run_as(rel->localrel->rd_rel->relowner);
	mmr_apply_row_change(rel, kind, change);
	mmr_relmap_close(rel, NoLock);
	end_step();
}

static void
apply_truncate(const MmrTruncate *truncate)
{
	require_remote_xact("TRUNCATE");
	if (mmr_remote_xact.skipping)
	{
		for (uint32 i = 0; i < truncate->nrelids; i++)
			note_skipped(truncate->relids[i]);
		return;
	}
	begin_step();
	mmr_exec_truncate(truncate);
	end_step();
}

/*
 * note_skipped counts a change of a skipped transaction and remembers the
 * first tables it was for, for the conflict log.
 */
static void
note_skipped(uint32 remote_relid)
{
	MmrApplyRelation *rel = mmr_relmap_lookup(remote_relid);
	char		name[2 * NAMEDATALEN + 1];

	mmr_remote_xact.nskipped++;
	snprintf(name, sizeof(name), "%s.%s", rel->nspname, rel->relname);
	for (int i = 0; i < mmr_remote_xact.nskipped_relations; i++)
		if (strcmp(mmr_remote_xact.skipped_relations[i], name) == 0)
			return;
	if (mmr_remote_xact.nskipped_relations == MMR_SKIP_MAX_RELATIONS)
	{
		mmr_remote_xact.more_skipped_relations = true;
		return;
	}
	strlcpy(mmr_remote_xact.skipped_relations[mmr_remote_xact.nskipped_relations++],
			name, sizeof(name));
}

/*
 * mmr_apply_run_as makes the change run as owner, the owner of its tables
 * (InvalidOid: tables of several owners, run as the worker), switching
 * only when it differs from the previous change's.  Another user than the
 * worker's runs under SECURITY_RESTRICTED_OPERATION, in a GUC nest level
 * that run_as_worker rolls back, so that nothing it sets outlives its
 * changes.
 */
void
mmr_apply_run_as(Oid owner)
{
	if (owner == apply_user.run_as)
		return;
	run_as_worker();
	if (!OidIsValid(owner))
		return;
	GetUserIdAndSecContext(&apply_user.worker_userid,
						   &apply_user.worker_sec_context);
	if (owner == apply_user.worker_userid)
		return;
	SetUserIdAndSecContext(owner, apply_user.worker_sec_context |
						   SECURITY_RESTRICTED_OPERATION);
	apply_user.nestlevel = NewGUCNestLevel();
	apply_user.run_as = owner;
}

/* run_as_worker switches back to the worker's own user. */
static void
run_as_worker(void)
{
	if (!OidIsValid(apply_user.run_as))
		return;
	AtEOXact_GUC(false, apply_user.nestlevel);
	SetUserIdAndSecContext(apply_user.worker_userid,
						   apply_user.worker_sec_context);
	apply_user.run_as = InvalidOid;
}
