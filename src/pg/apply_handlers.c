/*-------------------------------------------------------------------------
 *
 * apply_handlers.c
 *	  Applies the peer's messages one by one: BEGIN and COMMIT frame one
 *	  local transaction per remote transaction; INSERT, UPDATE, DELETE and
 *	  TRUNCATE change local tables at the executor level.
 *
 * NOTES
 *	  Row changes go through ExecSimpleRelationInsert/Update/Delete, the
 *	  same entry points PostgreSQL's own apply worker uses, never SQL: they
 *	  maintain indexes, check constraints, compute generated columns and
 *	  fire the triggers that fire in session_replication_role = replica
 *	  (ENABLE REPLICA and ENABLE ALWAYS triggers).  The local row of an
 *	  UPDATE or DELETE is found through the replica identity index (or the
 *	  primary key), or by comparing whole rows when the peer sends them.
 *
 *	  The local transaction starts at the first change, so a remote
 *	  transaction that changes nothing here commits nothing here.  Each
 *	  change runs as one "step": a fresh snapshot pushed, the change, then
 *	  CommandCounterIncrement so the next change sees it.
 *
 *	  The commit sets replorigin_session_origin_lsn and _timestamp: the
 *	  commit record then carries the peer's commit LSN (our restart point,
 *	  atomically with the data) and commit_ts records the origin's commit
 *	  time and the origin, which conflict resolution reads back later.
 *
 *	  Conflicts are only detected, not resolved, for now: a missing row for
 *	  an UPDATE or DELETE is logged and skipped, a duplicate key on INSERT
 *	  is an ERROR (apply stops and retries).  Resolvers and the conflict log
 *	  replace that.
 *
 *	  Everything allocated while applying a message lives in the message
 *	  context, which the loop resets after each message.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "commands/tablecmds.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "libpq/pqformat.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "apply_internal.h"
#include "apply_relmap.h"
#include "mmr.h"

/* The remote transaction being applied. */
typedef struct RemoteXact
{
	bool		active;			/* between BEGIN and COMMIT */
	TransactionId xid;
	XLogRecPtr	final_lsn;
	TimestampTz commit_time;
	uint64		nchanges;
	bool		changed_node_catalog;	/* mmr.node: wake the manager */
} RemoteXact;

static RemoteXact remote_xact;

/* Executor state for one change of one table. */
typedef struct ApplyExec
{
	EState	   *estate;
	ResultRelInfo *relinfo;
} ApplyExec;

static void apply_begin(const MmrBegin *begin);
static void apply_commit(const MmrCommit *commit);
static void apply_insert(const MmrChange *change);
static void apply_update(const MmrChange *change);
static void apply_delete(const MmrChange *change);
static void apply_truncate(const MmrTruncate *truncate);
static void require_remote_xact(const char *what);
static void begin_step(void);
static void end_step(void);
static MmrApplyRelation *open_target(uint32 remote_relid, LOCKMODE lockmode);
static void close_target(MmrApplyRelation *rel);
static ApplyExec *exec_begin(MmrApplyRelation *rel);
static void exec_end(ApplyExec *ex);
static void check_tuple_shape(MmrApplyRelation *rel, const MmrTuple *tuple);
static void store_remote_values(TupleTableSlot *slot, MmrApplyRelation *rel,
								const MmrTuple *tuple, bool keys_only,
								bool for_insert);
static void store_defaults(TupleTableSlot *slot, MmrApplyRelation *rel,
						   EState *estate);
static bool find_local_row(ApplyExec *ex, MmrApplyRelation *rel,
						   const MmrChange *change, const char *action,
						   TupleTableSlot **searchslot_out,
						   TupleTableSlot **localslot_out);
static char *describe_key(MmrApplyRelation *rel, TupleTableSlot *searchslot,
						  bool keys_only);
static void report_missing_row(MmrApplyRelation *rel, const char *conflict,
							   const char *action, const char *key);

/*
 * mmr_apply_in_remote_xact tells whether a remote transaction is open (the
 * loop then neither pauses nor reports positions inside it).
 */
bool
mmr_apply_in_remote_xact(void)
{
	return remote_xact.active;
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
			apply_insert(&msg->u.change);
			break;
		case MMR_MSG_UPDATE:
			mmr_apply_errctx.message_type = "UPDATE";
			apply_update(&msg->u.change);
			break;
		case MMR_MSG_DELETE:
			mmr_apply_errctx.message_type = "DELETE";
			apply_delete(&msg->u.change);
			break;
		case MMR_MSG_TRUNCATE:
			mmr_apply_errctx.message_type = "TRUNCATE";
			apply_truncate(&msg->u.truncate);
			break;
		case MMR_MSG_MESSAGE:

			/*
			 * Logical messages with prefix "mmr" will carry replicated DDL;
			 * until then, and for every other prefix, there is nothing to
			 * do.  They still belong to their transaction, so require one.
			 */
			mmr_apply_errctx.message_type = "MESSAGE";
			if (msg->u.message.flags & MMR_MESSAGE_TRANSACTIONAL)
				require_remote_xact("MESSAGE");
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
	if (!remote_xact.active)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent %s outside a transaction", what)));
}

/*
 * apply_begin remembers the remote transaction; the local one starts at
 * its first change.
 */
static void
apply_begin(const MmrBegin *begin)
{
	if (remote_xact.active)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent BEGIN inside transaction %u", remote_xact.xid)));

	memset(&remote_xact, 0, sizeof(remote_xact));
	remote_xact.active = true;
	remote_xact.xid = begin->xid;
	remote_xact.final_lsn = begin->final_lsn;
	remote_xact.commit_time = begin->commit_time;

	mmr_apply_errctx.remote_xid = begin->xid;
	mmr_apply_errctx.final_lsn = begin->final_lsn;

	/* commit_ts records the origin's time, whenever we commit. */
	replorigin_session_origin_timestamp = begin->commit_time;

	pgstat_report_activity(STATE_RUNNING, "applying a remote transaction");
}

/*
 * apply_commit commits the local transaction with the remote commit's
 * position as origin progress, remembers the pair (remote end, local end)
 * for flush reporting, and updates the counters of mmr.replication_status.
 */
static void
apply_commit(const MmrCommit *commit)
{
	bool		wake_manager = remote_xact.changed_node_catalog;

	require_remote_xact("COMMIT");
	if (commit->commit_lsn != remote_xact.final_lsn)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent COMMIT at %X/%X for a transaction announced to commit at %X/%X",
						LSN_FORMAT_ARGS(commit->commit_lsn),
						LSN_FORMAT_ARGS(remote_xact.final_lsn))));

	if (IsTransactionState())
	{
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
	mmr_apply_slot->applied_changes += remote_xact.nchanges;
	mmr_apply_slot->applied_lsn = commit->end_lsn;
	mmr_apply_slot->last_applied_commit_time = commit->commit_time;
	SpinLockRelease(&mmr_apply_slot->mutex);

	memset(&remote_xact, 0, sizeof(remote_xact));
	mmr_apply_errctx.remote_xid = InvalidTransactionId;
	mmr_apply_errctx.final_lsn = InvalidXLogRecPtr;
	pgstat_report_activity(STATE_IDLE, NULL);

	/* A node appeared, changed or parted: the manager re-reads mmr.node. */
	if (wake_manager)
		mmr_wake_database(MyDatabaseId);
}

/*
 * begin_step starts the local transaction if needed and gives the change
 * a fresh snapshot.
 */
static void
begin_step(void)
{
	if (!IsTransactionState())
		StartTransactionCommand();
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
	remote_xact.nchanges++;
}

static MmrApplyRelation *
open_target(uint32 remote_relid, LOCKMODE lockmode)
{
	MmrApplyRelation *rel = mmr_relmap_lookup(remote_relid);

	/* Name the table in errors from resolving it, too. */
	mmr_apply_errctx.nspname = rel->nspname;
	mmr_apply_errctx.relname = rel->relname;
	rel = mmr_relmap_open(remote_relid, lockmode);
	if (rel->is_node_catalog)
		remote_xact.changed_node_catalog = true;
	return rel;
}

static void
close_target(MmrApplyRelation *rel)
{
	/* Keep the lock until commit, like any writer. */
	mmr_relmap_close(rel, NoLock);
}

/*
 * exec_begin builds the executor state for one change: a range table with
 * the target, its ResultRelInfo with open indexes, and an AFTER trigger
 * query level so that replica-enabled AFTER triggers fire.
 */
static ApplyExec *
exec_begin(MmrApplyRelation *rel)
{
	ApplyExec  *ex = palloc0(sizeof(ApplyExec));
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel->localrel);
	rte->relkind = rel->localrel->rd_rel->relkind;
	rte->rellockmode = AccessShareLock;

	ex->estate = CreateExecutorState();
	ExecInitRangeTable(ex->estate, list_make1(rte));
	ex->estate->es_output_cid = GetCurrentCommandId(true);

	ex->relinfo = makeNode(ResultRelInfo);
	InitResultRelInfo(ex->relinfo, rel->localrel, 1, NULL, 0);
	ExecOpenIndices(ex->relinfo, false);

	AfterTriggerBeginQuery();
	return ex;
}

/*
 * exec_end fires the queued AFTER triggers and frees the executor state.
 * The relation itself stays open: the relation map owns that reference.
 */
static void
exec_end(ApplyExec *ex)
{
	AfterTriggerEndQuery(ex->estate);
	ExecCloseIndices(ex->relinfo);
	ExecResetTupleTable(ex->estate->es_tupleTable, false);
	FreeExecutorState(ex->estate);
}

static void
check_tuple_shape(MmrApplyRelation *rel, const MmrTuple *tuple)
{
	if (tuple->natts != rel->ncolumns)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent a row of %d columns for table \"%s.%s\", described with %d",
						tuple->natts, rel->nspname, rel->relname, rel->ncolumns)));
}

static const char *
type_display_name(const char *name)
{
	/* The peer qualifies every type name; built-ins read better without. */
	if (strncmp(name, "pg_catalog.", 11) == 0)
		return name + 11;
	return name;
}

/*
 * store_remote_values converts the peer's values of a row into the
 * (virtual) slot, over whatever the slot already holds: unchanged TOAST
 * values and columns the peer does not send keep their current value.
 * keys_only limits the work to the lookup index's columns.  The caller
 * stores the slot (ExecStoreVirtualTuple) afterwards.
 */
static void
store_remote_values(TupleTableSlot *slot, MmrApplyRelation *rel,
					const MmrTuple *tuple, bool keys_only, bool for_insert)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;

	for (int i = 0; i < rel->natts; i++)
	{
		MmrLocalColumn *col = &rel->local[i];
		Form_pg_attribute att;
		const MmrValue *value;

		if (col->remote_index < 0 || (keys_only && !col->lookup_key))
			continue;
		value = &tuple->values[col->remote_index];
		att = TupleDescAttr(desc, i);
		mmr_apply_errctx.column = NameStr(att->attname);

		switch (value->kind)
		{
			case MMR_VALUE_NULL:
				slot->tts_values[i] = (Datum) 0;
				slot->tts_isnull[i] = true;
				break;
			case MMR_VALUE_UNCHANGED:
				if (for_insert)
					ereport(ERROR,
							(errcode(ERRCODE_PROTOCOL_VIOLATION),
							 errmsg("peer sent an unchanged TOAST value in a new row")));
				break;
			case MMR_VALUE_TEXT:
				{
					char	   *str = pnstrdup(value->data.data, value->data.len);

					slot->tts_values[i] = InputFunctionCall(&col->in_func, str,
															col->typioparam,
															att->atttypmod);
					slot->tts_isnull[i] = false;
					break;
				}
			case MMR_VALUE_BINARY:
				{
					StringInfoData buf;

					if (!col->binary_ok)
						ereport(ERROR,
								(errcode(ERRCODE_DATATYPE_MISMATCH),
								 errmsg("column \"%s\" of table \"%s.%s\" has type %s locally but %s on the peer",
										NameStr(att->attname), rel->nspname, rel->relname,
										format_type_be(att->atttypid),
										type_display_name(rel->columns[col->remote_index].type_name)),
								 errhint("Give the column the same type on every node.")));

					/* Receive functions expect a terminating NUL. */
					initStringInfo(&buf);
					appendBinaryStringInfo(&buf, value->data.data, value->data.len);
					slot->tts_values[i] = ReceiveFunctionCall(&col->recv_func, &buf,
															  col->typioparam,
															  att->atttypmod);
					if (buf.cursor != buf.len)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
								 errmsg("incorrect binary data format in column \"%s\" of table \"%s.%s\"",
										NameStr(att->attname), rel->nspname, rel->relname)));
					slot->tts_isnull[i] = false;
					break;
				}
			default:
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("unexpected value kind 0x%02x", value->kind)));
		}
	}
	mmr_apply_errctx.column = NULL;
}

/*
 * store_defaults evaluates the local defaults of the columns the peer does
 * not send (a new row only).
 */
static void
store_defaults(TupleTableSlot *slot, MmrApplyRelation *rel, EState *estate)
{
	ExprContext *econtext = GetPerTupleExprContext(estate);

	for (int i = 0; i < rel->natts; i++)
	{
		MmrLocalColumn *col = &rel->local[i];
		ExprState  *state;

		if (col->remote_index >= 0 || col->default_expr == NULL)
			continue;
		state = ExecInitExpr(col->default_expr, NULL);
		slot->tts_values[i] = ExecEvalExpr(state, econtext, &slot->tts_isnull[i]);
	}
}

/*
 * apply_insert inserts the peer's new row.
 */
static void
apply_insert(const MmrChange *change)
{
	MmrApplyRelation *rel;
	ApplyExec  *ex;
	TupleTableSlot *slot;

	require_remote_xact("INSERT");
	begin_step();
	rel = open_target(change->relid, RowExclusiveLock);
	check_tuple_shape(rel, &change->new_tuple);
	ex = exec_begin(rel);

	slot = ExecInitExtraTupleSlot(ex->estate, RelationGetDescr(rel->localrel),
								  &TTSOpsVirtual);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * rel->natts);
	if (rel->has_defaults)
		store_defaults(slot, rel, ex->estate);
	store_remote_values(slot, rel, &change->new_tuple, false, true);
	ExecStoreVirtualTuple(slot);

	ExecSimpleRelationInsert(ex->relinfo, ex->estate, slot);

	exec_end(ex);
	close_target(rel);
	end_step();
}

/*
 * find_local_row locks and returns the local row a remote UPDATE or DELETE
 * is about, looked up by the old key the peer sent (or, for an UPDATE that
 * kept its key, by the new row's key).  Returns false when there is no such
 * row; *searchslot_out then holds the key that was looked for.
 */
static bool
find_local_row(ApplyExec *ex, MmrApplyRelation *rel, const MmrChange *change,
			   const char *action, TupleTableSlot **searchslot_out,
			   TupleTableSlot **localslot_out)
{
	TupleDesc	desc = RelationGetDescr(rel->localrel);
	const MmrTuple *key;
	TupleTableSlot *searchslot;
	TupleTableSlot *localslot;
	bool		use_index;
	bool		found;

	if (change->old_kind != MMR_OLD_NONE)
	{
		check_tuple_shape(rel, &change->old_tuple);
		key = &change->old_tuple;
	}
	else
		key = &change->new_tuple;

	use_index = OidIsValid(rel->lookup_index) && rel->lookup_unusable == NULL;
	if (!use_index && change->old_kind != MMR_OLD_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot find the row to %s in table \"%s.%s\"",
						action, rel->nspname, rel->relname),
				 rel->lookup_unusable ?
				 errdetail_internal("%s", rel->lookup_unusable) :
				 errdetail("The table has no primary key or replica identity index on this node, and the peer does not send whole old rows."),
				 errhint("Give the table the same primary key on every node, or set REPLICA IDENTITY FULL on it on every node.")));

	searchslot = ExecInitExtraTupleSlot(ex->estate, desc, &TTSOpsVirtual);
	ExecClearTuple(searchslot);
	memset(searchslot->tts_isnull, true, sizeof(bool) * rel->natts);
	store_remote_values(searchslot, rel, key, use_index, false);
	ExecStoreVirtualTuple(searchslot);

	if (use_index)
	{
		/* A key value the peer did not send cannot be looked up. */
		for (int i = 0; i < rel->natts; i++)
		{
			const MmrValue *v;

			if (!rel->local[i].lookup_key)
				continue;
			v = &key->values[rel->local[i].remote_index];
			if (v->kind == MMR_VALUE_UNCHANGED)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("peer did not send key column \"%s\" of table \"%s.%s\"",
								NameStr(TupleDescAttr(desc, i)->attname),
								rel->nspname, rel->relname)));
		}
	}

	localslot = table_slot_create(rel->localrel, &ex->estate->es_tupleTable);
	if (use_index)
		found = RelationFindReplTupleByIndex(rel->localrel, rel->lookup_index,
											 LockTupleExclusive,
											 searchslot, localslot);
	else
		found = RelationFindReplTupleSeq(rel->localrel, LockTupleExclusive,
										 searchslot, localslot);

	*searchslot_out = searchslot;
	*localslot_out = localslot;
	return found;
}

/*
 * describe_key renders the key that was looked up as (a, b)=(1, x), the
 * way PostgreSQL's own key errors do.  Only on the (rare) conflict path.
 */
static char *
describe_key(MmrApplyRelation *rel, TupleTableSlot *searchslot, bool keys_only)
{
	TupleDesc	desc = searchslot->tts_tupleDescriptor;
	StringInfoData names;
	StringInfoData values;
	bool		first = true;

	initStringInfo(&names);
	initStringInfo(&values);
	for (int i = 0; i < rel->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || rel->local[i].remote_index < 0 ||
			(keys_only && !rel->local[i].lookup_key))
			continue;
		if (!first)
		{
			appendStringInfoString(&names, ", ");
			appendStringInfoString(&values, ", ");
		}
		first = false;
		appendStringInfoString(&names, quote_identifier(NameStr(att->attname)));
		if (searchslot->tts_isnull[i])
			appendStringInfoString(&values, "null");
		else
		{
			Oid			func;
			bool		is_varlena;

			getTypeOutputInfo(att->atttypid, &func, &is_varlena);
			appendStringInfoString(&values,
								   OidOutputFunctionCall(func, searchslot->tts_values[i]));
		}
	}
	return psprintf("(%s)=(%s)", names.data, values.data);
}

/*
 * report_missing_row logs an UPDATE or DELETE whose row does not exist
 * here, and counts it as a conflict.  The conflict resolvers will replace
 * this (update_missing may turn into an insert, delete_missing into a
 * tombstone).
 */
static void
report_missing_row(MmrApplyRelation *rel, const char *conflict,
				   const char *action, const char *key)
{
	SpinLockAcquire(&mmr_apply_slot->mutex);
	mmr_apply_slot->conflicts++;
	SpinLockRelease(&mmr_apply_slot->mutex);

	ereport(LOG,
			(errmsg("conflict %s on table \"%s.%s\": skipping the remote %s",
					conflict, rel->nspname, rel->relname, action),
			 errdetail("No local row has key %s.", key)));
}

/*
 * apply_update finds the local row and replaces the columns the peer sent;
 * unchanged TOAST values and columns the peer does not send keep their
 * local value.
 */
static void
apply_update(const MmrChange *change)
{
	MmrApplyRelation *rel;
	ApplyExec  *ex;
	TupleTableSlot *searchslot;
	TupleTableSlot *localslot;

	require_remote_xact("UPDATE");
	begin_step();
	rel = open_target(change->relid, RowExclusiveLock);
	check_tuple_shape(rel, &change->new_tuple);
	ex = exec_begin(rel);

	if (find_local_row(ex, rel, change, "update", &searchslot, &localslot))
	{
		TupleTableSlot *newslot;
		EPQState	epqstate;

		newslot = ExecInitExtraTupleSlot(ex->estate,
										 RelationGetDescr(rel->localrel),
										 &TTSOpsVirtual);
		ExecClearTuple(newslot);
		slot_getallattrs(localslot);
		memcpy(newslot->tts_values, localslot->tts_values,
			   sizeof(Datum) * rel->natts);
		memcpy(newslot->tts_isnull, localslot->tts_isnull,
			   sizeof(bool) * rel->natts);
		store_remote_values(newslot, rel, &change->new_tuple, false, false);
		ExecStoreVirtualTuple(newslot);

		EvalPlanQualInit(&epqstate, ex->estate, NULL, NIL, -1);
		ExecSimpleRelationUpdate(ex->relinfo, ex->estate, &epqstate,
								 localslot, newslot);
		EvalPlanQualEnd(&epqstate);
	}
	else
		report_missing_row(rel, "update_missing", "UPDATE",
						   describe_key(rel, searchslot,
										OidIsValid(rel->lookup_index) &&
										rel->lookup_unusable == NULL));

	exec_end(ex);
	close_target(rel);
	end_step();
}

/*
 * apply_delete finds the local row and deletes it.
 */
static void
apply_delete(const MmrChange *change)
{
	MmrApplyRelation *rel;
	ApplyExec  *ex;
	TupleTableSlot *searchslot;
	TupleTableSlot *localslot;

	require_remote_xact("DELETE");
	if (change->old_kind == MMR_OLD_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent DELETE without the old row's key")));
	begin_step();
	rel = open_target(change->relid, RowExclusiveLock);
	ex = exec_begin(rel);

	if (find_local_row(ex, rel, change, "delete", &searchslot, &localslot))
	{
		EPQState	epqstate;

		EvalPlanQualInit(&epqstate, ex->estate, NULL, NIL, -1);
		ExecSimpleRelationDelete(ex->relinfo, ex->estate, &epqstate, localslot);
		EvalPlanQualEnd(&epqstate);
	}
	else
		report_missing_row(rel, "delete_missing", "DELETE",
						   describe_key(rel, searchslot,
										OidIsValid(rel->lookup_index) &&
										rel->lookup_unusable == NULL));

	exec_end(ex);
	close_target(rel);
	end_step();
}

/*
 * apply_truncate truncates the local tables of the message.
 *
 * Like PostgreSQL's apply worker, we truncate with RESTRICT even when the
 * origin used CASCADE: the message already lists every table the cascade
 * reached on the origin, and cascading again here could empty tables that
 * exist only on this node.  A local-only table that references a truncated
 * one therefore makes this an error rather than silent data loss.
 */
static void
apply_truncate(const MmrTruncate *truncate)
{
	List	   *rels = NIL;
	List	   *relids = NIL;
	List	   *relids_logged = NIL;
	ListCell   *lc;

	require_remote_xact("TRUNCATE");
	begin_step();

	for (uint32 i = 0; i < truncate->nrelids; i++)
	{
		MmrApplyRelation *rel;
		bool		seen = false;

		for (uint32 j = 0; j < i && !seen; j++)
			seen = truncate->relids[j] == truncate->relids[i];
		if (seen)
			continue;

		/*
		 * Keep our own reference to each Relation: the map entry holds only
		 * one at a time.
		 */
		rel = open_target(truncate->relids[i], AccessExclusiveLock);
		rels = lappend(rels, rel->localrel);
		relids = lappend_oid(relids, rel->local_relid);
		if (RelationIsLogicallyLogged(rel->localrel))
			relids_logged = lappend_oid(relids_logged, rel->local_relid);
		rel->localrel = NULL;
	}
	mmr_apply_errctx.nspname = NULL;
	mmr_apply_errctx.relname = NULL;

	ExecuteTruncateGuts(rels, relids, relids_logged, DROP_RESTRICT,
						(truncate->flags & MMR_TRUNCATE_RESTART_IDENTITY) != 0);

	foreach(lc, rels)
		table_close((Relation) lfirst(lc), NoLock);
	end_step();
}
