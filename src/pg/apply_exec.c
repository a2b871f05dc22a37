/*-------------------------------------------------------------------------
 *
 * apply_exec.c
 *	  Locate and act (docs/conflicts.md): the executor state of a change,
 *	  remote values into slots, the lookup of the local row by replica
 *	  identity, the probe of every unique index for a remote new row, and
 *	  the actions (insert, update, delete, truncate).
 *
 * NOTES
 *	  Row changes go through ExecSimpleRelationInsert/Update/Delete, the
 *	  same entry points PostgreSQL's own apply worker uses, never SQL: they
 *	  maintain indexes, check constraints, compute generated columns and
 *	  fire the triggers that fire in session_replication_role = replica
 *	  (ENABLE REPLICA and ENABLE ALWAYS triggers).
 *
 *	  The unique probe finds, per unique index, the row that holds the
 *	  remote new row's value before the row is written, so that the value
 *	  is claimed (apply_conflict.c) instead of ending in a unique violation
 *	  ERROR.  It follows PostgreSQL 18's FindConflictTuple
 *	  (check_exclusion_or_unique_constraint, static in 15): a dirty
 *	  snapshot index scan, waiting for in-progress writers of a candidate
 *	  and scanning again, and the row found is locked.  A local transaction
 *	  that inserts the same value after the probe still makes the insert
 *	  fail; apply then retries the transaction and the probe finds it.
 *
 *	  Everything is allocated in the caller's context: the per-message
 *	  context, which the loop resets after each message.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "commands/tablecmds.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "apply_internal.h"
#include "mmr.h"
#include "truncate.h"

static void store_value(TupleTableSlot *slot, MmrApplyRelation *rel, int attno,
						const MmrValue *value);
static int	store_remote_values(TupleTableSlot *slot, MmrApplyRelation *rel,
								const MmrTuple *tuple, bool keys_only);
static void store_defaults(TupleTableSlot *slot, MmrApplyRelation *rel,
						   EState *estate);
static const MmrValue *sender_old_value(const MmrChange *change, int r);
static void fill_unchanged(MmrApplyExec *ex, TupleTableSlot *slot,
						   MmrChangeKind kind, const MmrChange *change,
						   bool has_base);
static int	index_position(MmrApplyExec *ex, Oid indexoid);
static bool index_values(MmrApplyExec *ex, int pos, TupleTableSlot *slot,
						 Datum *values, bool *isnull);
static bool index_values_equal(Relation idxrel, int nkeys,
							   Datum *v1, bool *n1, Datum *v2, bool *n2);
static bool probe_index(MmrApplyExec *ex, int pos, const MmrUniqueIndex *ui,
						Datum *values, bool *isnull, TupleTableSlot *target,
						TupleTableSlot *out);
static TupleTableSlot *already_held(MmrUniqueHits *hits, int nunique,
									 TupleTableSlot *found);

/*
 * mmr_exec_begin builds the executor state for one change of rel (open):
 * a range table with the target, its ResultRelInfo with open indexes, and
 * an AFTER trigger query level so that replica-enabled AFTER triggers fire.
 */
MmrApplyExec *
mmr_exec_begin(MmrApplyRelation *rel)
{
	MmrApplyExec *ex = palloc0(sizeof(MmrApplyExec));
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel->localrel);
	rte->relkind = rel->localrel->rd_rel->relkind;
	rte->rellockmode = AccessShareLock;

	ex->rel = rel;
	ex->estate = CreateExecutorState();
	ExecInitRangeTable(ex->estate, list_make1(rte));
	ex->estate->es_output_cid = GetCurrentCommandId(true);

	ex->relinfo = makeNode(ResultRelInfo);
	InitResultRelInfo(ex->relinfo, rel->localrel, 1, NULL, 0);
	ExecOpenIndices(ex->relinfo, false);

	/*
	 * As PostgreSQL's apply worker does: listed there, the target is what
	 * ExecGetTriggerResultRel finds for AFTER triggers, instead of opening
	 * the table once more (a reference nobody closed: "relcache reference
	 * leak" at every change).  It is not in es_result_relations, so
	 * FreeExecutorState does not close it: the relation map owns it.
	 */
	ex->estate->es_opened_result_relations =
		lappend(ex->estate->es_opened_result_relations, ex->relinfo);

	AfterTriggerBeginQuery();
	return ex;
}

/*
 * mmr_exec_end fires the queued AFTER triggers and frees the executor
 * state.  The relation itself stays open: the relation map owns that
 * reference.
 */
void
mmr_exec_end(MmrApplyExec *ex)
{
	AfterTriggerEndQuery(ex->estate);
	ExecCloseIndices(ex->relinfo);
	ExecResetTupleTable(ex->estate->es_tupleTable, false);
	FreeExecutorState(ex->estate);
}

void
mmr_exec_check_shape(MmrApplyRelation *rel, const MmrTuple *tuple)
{
	if (tuple->natts != rel->ncolumns)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent a row of %d columns for table \"%s.%s\", described with %d",
						tuple->natts, rel->nspname, rel->relname, rel->ncolumns)));
}

/* A virtual slot of the target's row type, empty. */
TupleTableSlot *
mmr_exec_extra_slot(MmrApplyExec *ex)
{
	TupleTableSlot *slot;

	slot = ExecInitExtraTupleSlot(ex->estate, RelationGetDescr(ex->rel->localrel),
								  &TTSOpsVirtual);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * ex->rel->natts);
	return slot;
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
 * store_value converts the peer's value of local column attno (0-based)
 * into the slot.  An unchanged TOAST value leaves the slot's value alone.
 */
static void
store_value(TupleTableSlot *slot, MmrApplyRelation *rel, int attno,
			const MmrValue *value)
{
	MmrLocalColumn *col = &rel->local[attno];
	Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor, attno);

	mmr_apply_errctx.column = NameStr(att->attname);
	switch (value->kind)
	{
		case MMR_VALUE_NULL:
			slot->tts_values[attno] = (Datum) 0;
			slot->tts_isnull[attno] = true;
			break;
		case MMR_VALUE_UNCHANGED:
			break;
		case MMR_VALUE_TEXT:
			{
				char	   *str = pnstrdup(value->data.data, value->data.len);

				slot->tts_values[attno] = InputFunctionCall(&col->in_func, str,
															col->typioparam,
															att->atttypmod);
				slot->tts_isnull[attno] = false;
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
				slot->tts_values[attno] = ReceiveFunctionCall(&col->recv_func, &buf,
															  col->typioparam,
															  att->atttypmod);
				if (buf.cursor != buf.len)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
							 errmsg("incorrect binary data format in column \"%s\" of table \"%s.%s\"",
									NameStr(att->attname), rel->nspname, rel->relname)));
				slot->tts_isnull[attno] = false;
				break;
			}
		default:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("unexpected value kind 0x%02x", value->kind)));
	}
	mmr_apply_errctx.column = NULL;
}

/*
 * store_remote_values converts the peer's values of a row into the
 * (virtual) slot, over whatever the slot already holds: unchanged TOAST
 * values and columns the peer does not send keep their current value.
 * keys_only limits the work to the lookup index's columns.  The caller
 * stores the slot (ExecStoreVirtualTuple) afterwards.  Returns how many
 * unchanged TOAST values it met.
 */
static int
store_remote_values(TupleTableSlot *slot, MmrApplyRelation *rel,
					const MmrTuple *tuple, bool keys_only)
{
	int			nunchanged = 0;

	for (int i = 0; i < rel->natts; i++)
	{
		MmrLocalColumn *col = &rel->local[i];
		const MmrValue *value;

		if (col->remote_index < 0 || (keys_only && !col->lookup_key))
			continue;
		value = &tuple->values[col->remote_index];
		if (value->kind == MMR_VALUE_UNCHANGED)
			nunchanged++;
		else
			store_value(slot, rel, i, value);
	}
	return nunchanged;
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

/* The sender's value of remote column r in its whole old row, or NULL. */
static const MmrValue *
sender_old_value(const MmrChange *change, int r)
{
	const MmrValue *old;

	if (change->old_kind != MMR_OLD_FULL)
		return NULL;
	old = &change->old_tuple.values[r];
	return old->kind == MMR_VALUE_UNCHANGED ? NULL : old;
}

/*
 * fill_unchanged fills the columns that a remote UPDATE left unchanged and
 * could not send (TOASTed values; docs/apply.md).  A whole old row
 * (REPLICA IDENTITY FULL: PostgreSQL flattens it) holds exactly the
 * sender's values, also over an existing local row.  Any other such column
 * keeps the base row's value (has_base), or has none yet: the row is then
 * remembered in ex->unchanged_row, and mmr_exec_complete_row decides,
 * once the conflict is decided, whether the local values will do or the
 * sender's are fetched.  A row lacking values is never stored.
 */
static void
fill_unchanged(MmrApplyExec *ex, TupleTableSlot *slot, MmrChangeKind kind,
			   const MmrChange *change, bool has_base)
{
	MmrApplyRelation *rel = ex->rel;

	if (kind == MMR_CHANGE_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent an unchanged TOAST value in a new row")));
	if (change->old_kind == MMR_OLD_FULL)
		mmr_exec_check_shape(rel, &change->old_tuple);

	for (int i = 0; i < rel->natts; i++)
	{
		int			r = rel->local[i].remote_index;
		const MmrValue *old;

		if (r < 0 || change->new_tuple.values[r].kind != MMR_VALUE_UNCHANGED)
			continue;
		old = sender_old_value(change, r);
		if (old != NULL)
			store_value(slot, rel, i, old);
		else
		{
			ex->unchanged_row = slot;
			ex->base_values = has_base;
		}
	}
}

/*
 * mmr_exec_new_row builds the row a remote INSERT or UPDATE stores.  With
 * base (the local row of an UPDATE), the peer's values go over the local
 * row's: columns the peer does not send keep their local value, and so do
 * unchanged TOAST values the change does not carry (fill_unchanged).
 * Without base, the row is new: unsent columns get their defaults.
 */
TupleTableSlot *
mmr_exec_new_row(MmrApplyExec *ex, MmrChangeKind kind, const MmrChange *change,
				 TupleTableSlot *base)
{
	MmrApplyRelation *rel = ex->rel;
	TupleTableSlot *slot = mmr_exec_extra_slot(ex);

	mmr_exec_check_shape(rel, &change->new_tuple);
	if (base != NULL)
	{
		slot_getallattrs(base);
		memcpy(slot->tts_values, base->tts_values, sizeof(Datum) * rel->natts);
		memcpy(slot->tts_isnull, base->tts_isnull, sizeof(bool) * rel->natts);
	}
	else if (rel->has_defaults)
		store_defaults(slot, rel, ex->estate);
	if (store_remote_values(slot, rel, &change->new_tuple, false) > 0)
		fill_unchanged(ex, slot, kind, change, base != NULL);
	ExecStoreVirtualTuple(slot);
	return slot;
}

/*
 * mmr_exec_complete_row gives newrow (mmr_exec_new_row's for a remote
 * UPDATE) the sender's values of the columns the change left unchanged
 * and did not carry, when the decision uses the row and the local values
 * may not be the sender's (mmr_unchanged_from_origin): they are read from
 * the origin (apply_fetch.c).  Nothing to do, at no cost, for a change
 * that carried every value.
 *
 * When the origin no longer has the row, a later change of it (its DELETE,
 * or an UPDATE of its key) is on its way to this node: the change is
 * skipped (resolution skip when it was a conflict) rather than stored
 * with a guessed value.
 */
void
mmr_exec_complete_row(MmrApplyExec *ex, const MmrChange *change,
					  TupleTableSlot *newrow, const MmrConflictFacts *facts,
					  MmrConflictDecision *decision)
{
	MmrApplyRelation *rel = ex->rel;
	MmrHorizonEntry local[MMR_MAX_HORIZON];
	int			nlocal;
	bool	   *want;
	MmrValue   *values;

	if (newrow == NULL || ex->unchanged_row != newrow)
		return;
	nlocal = mmr_local_horizon(MyDatabaseId, local, MMR_MAX_HORIZON);
	if (!mmr_unchanged_from_origin(facts, decision, local, nlocal))
		return;

	want = palloc0(sizeof(bool) * rel->ncolumns);
	values = palloc0(sizeof(MmrValue) * rel->ncolumns);
	for (int i = 0; i < rel->natts; i++)
	{
		int			r = rel->local[i].remote_index;

		if (r >= 0)
			want[r] = change->new_tuple.values[r].kind == MMR_VALUE_UNCHANGED &&
				sender_old_value(change, r) == NULL;
	}
	if (!mmr_fetch_unchanged(rel, change, want, values))
	{
		ereport(LOG,
				(errmsg("skipping a remote UPDATE of table \"%s.%s\": origin node \"%s\" no longer has the row",
						rel->nspname, rel->relname, mmr_apply_errctx.peer_name),
				 errdetail("Its unchanged TOASTed values cannot be read there; the origin's later change of the row is on its way.")));
		decision->action = MMR_ACTION_NOTHING;
		decision->call_custom = 0;
		if (decision->conflict != MMR_CONFLICT_NONE)
			decision->resolution = MMR_RESOLUTION_SKIP;
		return;
	}
	for (int i = 0; i < rel->natts; i++)
	{
		int			r = rel->local[i].remote_index;

		if (r >= 0 && want[r])
			store_value(newrow, rel, i, &values[r]);
	}
	ex->unchanged_row = NULL;
}

/*
 * mmr_exec_find_row locks and returns the local row a remote UPDATE or
 * DELETE is about, looked up by the old key the peer sent (or, for an
 * UPDATE that kept its key, by the new row's key).  Returns false when
 * there is no such row; *searchslot_out then holds the key that was looked
 * for (only the key columns, when found through the index).
 */
bool
mmr_exec_find_row(MmrApplyExec *ex, const MmrChange *change,
				  const char *action, TupleTableSlot **searchslot_out,
				  TupleTableSlot **localslot_out)
{
	MmrApplyRelation *rel = ex->rel;
	TupleDesc	desc = RelationGetDescr(rel->localrel);
	const MmrTuple *key;
	TupleTableSlot *searchslot;
	TupleTableSlot *localslot;
	bool		use_index;
	bool		found;

	if (change->old_kind != MMR_OLD_NONE)
		key = &change->old_tuple;
	else
		key = &change->new_tuple;
	mmr_exec_check_shape(rel, key);

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

	searchslot = mmr_exec_extra_slot(ex);
	store_remote_values(searchslot, rel, key, use_index);
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
	*localslot_out = found ? localslot : NULL;
	return found;
}

/*
 * mmr_exec_find_unique probes every unique index of the table for the
 * remote new row newrow and says, per index, which local row holds its
 * value, each locked.
 *
 * target is the row the change is about (a remote UPDATE's local row).
 * Without target (an INSERT, or an UPDATE applied as an insert), the row
 * found through the lookup index (same primary key or replica identity) is
 * hits->target.  A value the target holds is not probed for (no other row
 * holds it), so an UPDATE that keeps its unique values probes nothing.
 */
void
mmr_exec_find_unique(MmrApplyExec *ex, TupleTableSlot *newrow,
					 TupleTableSlot *target, MmrUniqueHits *hits)
{
	MmrApplyRelation *rel = ex->rel;

	memset(hits, 0, sizeof(*hits));
	if (rel->nunique == 0)
		return;
	hits->has_value = palloc0(sizeof(bool) * rel->nunique);
	hits->holder = palloc0(sizeof(TupleTableSlot *) * rel->nunique);

	/* The lookup index first: what it finds is the target, not another row. */
	for (int pass = 0; pass < 2; pass++)
	{
		for (int u = 0; u < rel->nunique; u++)
		{
			const MmrUniqueIndex *ui = &rel->unique[u];
			int			pos;
			Datum		values[INDEX_MAX_KEYS];
			bool		isnull[INDEX_MAX_KEYS];
			TupleTableSlot *own;
			TupleTableSlot *found;

			bool		finds_target = ui->is_lookup && target == NULL;

			if (finds_target != (pass == 0))
				continue;
			pos = index_position(ex, ui->indexoid);
			if (pos < 0 || !index_values(ex, pos, newrow, values, isnull))
				continue;
			hits->has_value[u] = true;
			own = target != NULL ? target : hits->target;
			if (own != NULL)
			{
				Datum		tvalues[INDEX_MAX_KEYS];
				bool		tisnull[INDEX_MAX_KEYS];

				if (index_values(ex, pos, own, tvalues, tisnull) &&
					index_values_equal(ex->relinfo->ri_IndexRelationDescs[pos],
									   ui->nkeys, values, isnull, tvalues, tisnull))
				{
					hits->holder[u] = own;
					continue;
				}
			}

			found = table_slot_create(rel->localrel, &ex->estate->es_tupleTable);
			if (!probe_index(ex, pos, ui, values, isnull, own, found))
				continue;
			if (finds_target)
				hits->target = found;
			hits->holder[u] = already_held(hits, rel->nunique, found);
		}
	}
}

/* The position of an index in the ResultRelInfo's arrays, or -1. */
static int
index_position(MmrApplyExec *ex, Oid indexoid)
{
	for (int i = 0; i < ex->relinfo->ri_NumIndices; i++)
		if (RelationGetRelid(ex->relinfo->ri_IndexRelationDescs[i]) == indexoid)
			return i;
	return -1;
}

/*
 * index_values computes the index key of a row (expressions included).
 * Returns false when the row cannot collide in that index: it is outside
 * a partial index's predicate, or a key is NULL and NULLs are distinct.
 */
static bool
index_values(MmrApplyExec *ex, int pos, TupleTableSlot *slot,
			 Datum *values, bool *isnull)
{
	IndexInfo  *info = ex->relinfo->ri_IndexRelationInfo[pos];
	ExprContext *econtext = GetPerTupleExprContext(ex->estate);

	econtext->ecxt_scantuple = slot;
	if (info->ii_Predicate != NIL)
	{
		if (info->ii_PredicateState == NULL)
			info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate, ex->estate);
		if (!ExecQual(info->ii_PredicateState, econtext))
			return false;
	}
	FormIndexDatum(info, slot, ex->estate, values, isnull);
	if (!info->ii_NullsNotDistinct)
	{
		for (int i = 0; i < info->ii_NumIndexKeyAttrs; i++)
			if (isnull[i])
				return false;
	}
	return true;
}

static bool
index_values_equal(Relation idxrel, int nkeys, Datum *v1, bool *n1,
				   Datum *v2, bool *n2)
{
	TupleDesc	desc = RelationGetDescr(idxrel);

	for (int i = 0; i < nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (n1[i] != n2[i])
			return false;
		if (!n1[i] && !datumIsEqual(v1[i], v2[i], att->attbyval, att->attlen))
			return false;
	}
	return true;
}

/*
 * probe_index finds a live row other than exclude whose key in the index
 * equals values, waits for in-progress writers of what it finds, and locks
 * the row in out.  Returns false when there is none.
 */
static bool
probe_index(MmrApplyExec *ex, int pos, const MmrUniqueIndex *ui,
			Datum *values, bool *isnull, TupleTableSlot *exclude,
			TupleTableSlot *out)
{
	Relation	rel = ex->rel->localrel;
	Relation	idxrel = ex->relinfo->ri_IndexRelationDescs[pos];
	ScanKeyData skey[INDEX_MAX_KEYS];
	SnapshotData snap;
	IndexScanDesc scan;
	bool		found;

	for (int i = 0; i < ui->nkeys; i++)
		ScanKeyEntryInitialize(&skey[i],
							   isnull[i] ? SK_ISNULL | SK_SEARCHNULL : 0,
							   i + 1,
							   BTEqualStrategyNumber,
							   InvalidOid,
							   idxrel->rd_indcollation[i],
							   ui->procs[i],
							   values[i]);

	InitDirtySnapshot(snap);
	scan = index_beginscan(rel, idxrel, &snap, ui->nkeys, 0);

retry:
	found = false;
	index_rescan(scan, skey, ui->nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, out))
	{
		TransactionId xwait;

		if (exclude != NULL && ItemPointerEquals(&out->tts_tid, &exclude->tts_tid))
			continue;

		/* A writer still at work: its outcome decides, wait for it. */
		xwait = TransactionIdIsValid(snap.xmin) ? snap.xmin : snap.xmax;
		if (TransactionIdIsValid(xwait))
		{
			XactLockTableWait(xwait, rel, &out->tts_tid, XLTW_InsertIndex);
			goto retry;
		}
		found = true;
		break;
	}

	if (found)
	{
		TM_FailureData tmfd;
		TM_Result	res;

		PushActiveSnapshot(GetLatestSnapshot());
		res = table_tuple_lock(rel, &out->tts_tid, GetLatestSnapshot(), out,
							   GetCurrentCommandId(false), LockTupleExclusive,
							   LockWaitBlock, 0, &tmfd);
		PopActiveSnapshot();
		switch (res)
		{
			case TM_Ok:
				break;
			case TM_Updated:
			case TM_Deleted:
				/* Changed since the scan: look again. */
				goto retry;
			default:
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
		}
	}
	index_endscan(scan);
	return found;
}

/* The slot of a row found already through another index, else found. */
static TupleTableSlot *
already_held(MmrUniqueHits *hits, int nunique, TupleTableSlot *found)
{
	for (int u = 0; u < nunique; u++)
		if (hits->holder[u] != NULL &&
			ItemPointerEquals(&hits->holder[u]->tts_tid, &found->tts_tid))
			return hits->holder[u];
	return found;
}

void
mmr_exec_insert(MmrApplyExec *ex, TupleTableSlot *slot)
{
	/* Unchanged TOAST values: never a row with a value lost (fill_unchanged). */
	if (slot == ex->unchanged_row && !ex->base_values)
		elog(ERROR, "remote row lacks the unchanged TOASTed values of its UPDATE");
	ExecSimpleRelationInsert(ex->relinfo, ex->estate, slot);
}

/*
 * mmr_exec_insert_new inserts a remote new row that is expected to meet no
 * local row, at the cost of PostgreSQL's own apply: each unique index is
 * descended once, by the insertion itself.  It does what
 * ExecSimpleRelationInsert does, but the unique indexes the probe would
 * look at only report a possible duplicate (UNIQUE_CHECK_PARTIAL, as for a
 * deferred constraint) instead of raising one.  Then the new tuple is
 * deleted again, before any AFTER trigger or constraint saw it, and false
 * is returned: the caller probes and decides (mmr_exec_find_unique).
 *
 * The deleted tuple is invisible to this transaction at once; other
 * sessions see an insertion in progress until we end, as for any row we
 * insert.  Its WAL carries the peer's replication origin, so this node's
 * walsenders filter it out like every applied change.  A table with BEFORE
 * ROW INSERT triggers is left to the probing path (false at once): its
 * triggers must not run twice.
 */
bool
mmr_exec_insert_new(MmrApplyExec *ex, TupleTableSlot *slot)
{
	ResultRelInfo *relinfo = ex->relinfo;
	Relation	rel = relinfo->ri_RelationDesc;
	EState	   *estate = ex->estate;
	List	   *arbiters = ex->rel->unique_oids;
	List	   *recheck = NIL;
	bool		duplicate = false;

	if (relinfo->ri_TrigDesc && relinfo->ri_TrigDesc->trig_insert_before_row)
		return false;

	CheckCmdReplicaIdentity(rel, CMD_INSERT);
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(relinfo, estate, slot, CMD_INSERT);

	simple_table_tuple_insert(rel, slot);
	if (relinfo->ri_NumIndices > 0)
	{
		recheck = ExecInsertIndexTuples(relinfo, slot, estate, false,
										arbiters != NIL, &duplicate, arbiters);
	}
	if (duplicate)
	{
		/* Our own insertion is visible to the delete only in a later command. */
		CommandCounterIncrement();
		estate->es_output_cid = GetCurrentCommandId(true);
		simple_table_tuple_delete(rel, &slot->tts_tid, estate->es_snapshot);
		return false;
	}

	/*
	 * Constraints after the insertion, not before as in
	 * ExecSimpleRelationInsert: a row that meets a local row is decided
	 * first (it may be skipped), and a violation aborts the transaction
	 * with the tuple either way.
	 */
	if (rel->rd_att->constr)
		ExecConstraints(relinfo, slot, estate);
	if (rel->rd_rel->relispartition)
		ExecPartitionCheck(relinfo, slot, estate, true);

	ExecARInsertTriggers(estate, relinfo, slot, recheck, NULL);
	return true;
}

void
mmr_exec_update(MmrApplyExec *ex, TupleTableSlot *localslot,
				TupleTableSlot *newslot)
{
	EPQState	epqstate;

	EvalPlanQualInit(&epqstate, ex->estate, NULL, NIL, -1);
	ExecSimpleRelationUpdate(ex->relinfo, ex->estate, &epqstate,
							 localslot, newslot);
	EvalPlanQualEnd(&epqstate);
}

void
mmr_exec_delete(MmrApplyExec *ex, TupleTableSlot *localslot)
{
	EPQState	epqstate;

	EvalPlanQualInit(&epqstate, ex->estate, NULL, NIL, -1);
	ExecSimpleRelationDelete(ex->relinfo, ex->estate, &epqstate, localslot);
	EvalPlanQualEnd(&epqstate);
}

/*
 * mmr_exec_truncate applies a remote TRUNCATE as a delete of every row it
 * has seen or that loses to it (truncate_apply.c, docs/conflicts.md
 * "TRUNCATE").  When no row of any of its tables wins, the tables are
 * truncated (after logging the rows the TRUNCATE had not seen); otherwise
 * only the losing rows are deleted, in every table of the message, so
 * that no table is truncated while a table referencing it keeps rows.
 * RESTART IDENTITY then restarts nothing.  Each table gets its table
 * tombstone.
 *
 * Like PostgreSQL's apply worker, we truncate with RESTRICT even when the
 * origin used CASCADE: the message already lists every table the cascade
 * reached on the origin, and cascading again here could empty tables that
 * exist only on this node.  A local-only table that references a truncated
 * one therefore makes this an error rather than silent data loss.
 */
void
mmr_exec_truncate(const MmrTruncate *truncate)
{
	List	   *rels = NIL;
	List	   *relids = NIL;
	List	   *relids_logged = NIL;
	List	   *targets = NIL;		/* remote relids, each once */
	List	   *to_log = NIL;		/* those whose rows are logged */
	bool		keeps = false;
	Oid			owner = InvalidOid;
	ListCell   *lc;

	for (uint32 i = 0; i < truncate->nrelids; i++)
	{
		MmrApplyRelation *rel;
		MmrTruncateVerdict verdict;
		bool		seen = false;

		for (uint32 j = 0; j < i && !seen; j++)
			seen = truncate->relids[j] == truncate->relids[i];
		if (seen)
			continue;

		/*
		 * Keep our own reference to each Relation: the map entry holds only
		 * one at a time.
		 */
		rel = mmr_apply_open_target(truncate->relids[i], AccessExclusiveLock);
		targets = lappend_oid(targets, truncate->relids[i]);
		verdict = mmr_truncate_check(rel);
		keeps = keeps || verdict == MMR_TRUNCATE_KEEPS;
		if (verdict != MMR_TRUNCATE_SILENT)
			to_log = lappend_oid(to_log, truncate->relids[i]);
		mmr_truncate_note_applied(rel);
		rels = lappend(rels, rel->localrel);
		relids = lappend_oid(relids, rel->local_relid);
		if (i == 0)
			owner = rel->localrel->rd_rel->relowner;
		else if (owner != rel->localrel->rd_rel->relowner)
			owner = InvalidOid;
		if (RelationIsLogicallyLogged(rel->localrel))
			relids_logged = lappend_oid(relids_logged, rel->local_relid);
		rel->localrel = NULL;
	}

	/*
	 * Log the rows it had not seen; when some row wins, delete the losing
	 * rows of every table (as its owner) instead of truncating.
	 */
	foreach(lc, keeps ? targets : to_log)
	{
		MmrApplyRelation *rel = mmr_apply_open_target(lfirst_oid(lc),
													  AccessExclusiveLock);

		if (keeps)
			mmr_apply_run_as(rel->localrel->rd_rel->relowner);
		mmr_truncate_rows(rel, keeps);
		mmr_relmap_close(rel, NoLock);
	}
	mmr_apply_errctx.nspname = NULL;
	mmr_apply_errctx.relname = NULL;

	if (!keeps)
	{
		/* Its triggers run as the tables' owner, if they have one. */
		mmr_apply_run_as(owner);
		ExecuteTruncateGuts(rels, relids, relids_logged, DROP_RESTRICT,
							(truncate->flags & MMR_TRUNCATE_RESTART_IDENTITY) != 0);
	}

	foreach(lc, rels)
		table_close((Relation) lfirst(lc), NoLock);
}
