/*-------------------------------------------------------------------------
 *
 * conflict_log.c
 *	  Record (docs/conflicts.md): one row of mmr.conflict_history per
 *	  conflict, written in the apply transaction, so that it commits with
 *	  the resolution or not at all.
 *
 * NOTES
 *	  A conflict is turned into text (rows as JSON) while its slots are
 *	  still valid, and written after the change, through one prepared SPI
 *	  statement kept for the life of the worker.  Conflicts are rare; the
 *	  path without them never comes here.
 *
 *	  An error resolution (the error resolver, or an error inside a custom
 *	  resolver) rolls the apply transaction back, its log row with it.  So
 *	  its row is kept aside before the ERROR is raised, and the worker's
 *	  error path writes it in a fresh transaction after the abort.  The
 *	  worker then exits and retries the remote transaction, which meets the
 *	  same conflict again as long as nothing changed: the apply slot keeps
 *	  (remote commit LSN, position of the change) of the last error logged,
 *	  and the same failing change is logged and counted once, however often
 *	  it is retried.  A different change, or the same one after a success
 *	  in between, is logged again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"

#include "apply_internal.h"
#include "conflict_log.h"
#include "mmr.h"
#include "tombstone.h"

#define CONFLICT_LOG_NPARAMS 14

/* One conflict, as text: what a row of mmr.conflict_history holds. */
struct MmrConflictLogRow
{
	char	   *relation;
	const char *conflict_type;
	const char *resolution;
	const char *resolver;
	char	   *local_node;		/* NULL: no local version */
	char	   *remote_node;
	bool		local_ts_known;
	TimestampTz local_commit_ts;
	TimestampTz remote_commit_ts;
	int			nkeys;
	char	  **key_names;		/* the key: these columns of key_row */
	char	   *key_row;
	char	   *local_row;		/* JSON texts, NULL for none */
	char	   *remote_row;
	char	   *resolved_row;
	XLogRecPtr	remote_commit_lsn;
};

static SPIPlanPtr insert_plan = NULL;

/* The error resolution waiting for the worker's error path. */
static MemoryContext pending_context = NULL;
static MmrConflictLogRow *pending = NULL;
static uint64 pending_change;

static char *slot_json(TupleTableSlot *slot);
static char *version_name(const MmrVersion *v);
static void write_row(const MmrConflictLogRow *row);
static MmrConflictLogRow *copy_row(const MmrConflictLogRow *row);

static char *
slot_json(TupleTableSlot *slot)
{
	Datum		json;

	if (slot == NULL)
		return NULL;
	json = DirectFunctionCall1(row_to_json, ExecFetchSlotHeapTupleDatum(slot));
	return text_to_cstring(DatumGetTextPP(json));
}

static char *
version_name(const MmrVersion *v)
{
	if (v->origin_name.data == NULL)
		return NULL;
	return pnstrdup(v->origin_name.data, v->origin_name.len);
}

/*
 * mmr_conflict_log_row turns one conflict into a log row: d says the type,
 * resolver and resolution; local is the version of the local row or
 * tombstone (NULL for none); the key is the columns keyattrs (attribute
 * numbers) of keyslot.
 */
MmrConflictLogRow *
mmr_conflict_log_row(MmrApplyRelation *rel, const MmrConflictDecision *d,
					 const MmrVersion *local, const MmrVersion *remote,
					 TupleTableSlot *keyslot, const AttrNumber *keyattrs,
					 int nkeyattrs, TupleTableSlot *local_row,
					 TupleTableSlot *remote_row, TupleTableSlot *resolved_row)
{
	MmrConflictLogRow *row = palloc0(sizeof(MmrConflictLogRow));
	TupleDesc	desc = RelationGetDescr(rel->localrel);

	row->relation = quote_qualified_identifier(rel->nspname, rel->relname);
	row->conflict_type = mmr_conflict_type_name(d->conflict);
	row->resolution = mmr_resolution_name(d->resolution);
	row->resolver = mmr_resolver_name(d->resolver);
	if (local != NULL)
	{
		row->local_node = version_name(local);
		row->local_ts_known = local->time_known != 0;
		row->local_commit_ts = local->commit_time;
	}
	row->remote_node = version_name(remote);
	row->remote_commit_ts = remote->commit_time;
	row->key_names = palloc(sizeof(char *) * Max(nkeyattrs, 1));
	for (int i = 0; i < nkeyattrs; i++)
		if (keyattrs[i] > 0)
			row->key_names[row->nkeys++] =
				pstrdup(NameStr(TupleDescAttr(desc, keyattrs[i] - 1)->attname));
	row->key_row = row->nkeys > 0 ? slot_json(keyslot) : NULL;
	row->local_row = slot_json(local_row);
	row->remote_row = slot_json(remote_row);
	row->resolved_row = slot_json(resolved_row);
	row->remote_commit_lsn = mmr_remote_xact.final_lsn;
	return row;
}

/*
 * mmr_conflict_log_write stores the row in the current transaction,
 * unless mmr.log_conflicts is off.
 */
void
mmr_conflict_log_write(const MmrConflictLogRow *row)
{
	if (mmr_log_conflicts)
		write_row(row);
}

static void
write_row(const MmrConflictLogRow *row)
{
	Datum		values[CONFLICT_LOG_NPARAMS];
	char		nulls[CONFLICT_LOG_NPARAMS];
	Datum	   *keys;
	int			ret;
	MmrAsOwner	as_owner;

	/* mmr's own catalog: written as its owner, whoever apply runs as. */
	mmr_as_owner_enter(&as_owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (insert_plan == NULL)
	{
		Oid			types[CONFLICT_LOG_NPARAMS] = {
			TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
			TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID, TEXTOID,
			TEXTOID, TEXTOID, TEXTOID, PG_LSNOID
		};
		SPIPlanPtr	plan;

		plan = SPI_prepare("INSERT INTO mmr.conflict_history "
						   "(relation, conflict_type, resolution, resolver, "
						   " local_node, remote_node, local_commit_ts, remote_commit_ts, "
						   " key, local_row, remote_row, resolved_row, remote_commit_lsn) "
						   "SELECT $1, $2, $3, $4, $5, $6, $7, $8, "
						   " (SELECT pg_catalog.jsonb_object_agg(k, $10::pg_catalog.jsonb -> k) "
						   "    FROM pg_catalog.unnest($9) k), "
						   " $11::pg_catalog.jsonb, $12::pg_catalog.jsonb, "
						   " $13::pg_catalog.jsonb, $14",
						   CONFLICT_LOG_NPARAMS, types);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		insert_plan = plan;
	}

	memset(nulls, ' ', sizeof(nulls));
#define TEXT_PARAM(i, s) \
	do { \
		if ((s) == NULL) nulls[i] = 'n'; \
		else values[i] = CStringGetTextDatum(s); \
	} while (0)
	TEXT_PARAM(0, row->relation);
	TEXT_PARAM(1, row->conflict_type);
	TEXT_PARAM(2, row->resolution);
	TEXT_PARAM(3, row->resolver);
	TEXT_PARAM(4, row->local_node);
	TEXT_PARAM(5, row->remote_node);
	values[6] = TimestampTzGetDatum(row->local_commit_ts);
	if (!row->local_ts_known)
		nulls[6] = 'n';
	values[7] = TimestampTzGetDatum(row->remote_commit_ts);
	keys = palloc(sizeof(Datum) * Max(row->nkeys, 1));
	for (int i = 0; i < row->nkeys; i++)
		keys[i] = CStringGetTextDatum(row->key_names[i]);
	values[8] = PointerGetDatum(construct_array(keys, row->nkeys, TEXTOID, -1,
												false, TYPALIGN_INT));
	TEXT_PARAM(9, row->key_row);
	TEXT_PARAM(10, row->local_row);
	TEXT_PARAM(11, row->remote_row);
	TEXT_PARAM(12, row->resolved_row);
#undef TEXT_PARAM
	values[13] = LSNGetDatum(row->remote_commit_lsn);

	ret = SPI_execute_plan(insert_plan, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not log a conflict: %s", SPI_result_code_string(ret));
	SPI_finish();
	mmr_as_owner_leave(&as_owner);
}

static char *
strdup_or_null(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

static MmrConflictLogRow *
copy_row(const MmrConflictLogRow *row)
{
	MmrConflictLogRow *copy = palloc(sizeof(MmrConflictLogRow));

	*copy = *row;
	copy->relation = pstrdup(row->relation);
	copy->local_node = strdup_or_null(row->local_node);
	copy->remote_node = strdup_or_null(row->remote_node);
	copy->key_names = palloc(sizeof(char *) * Max(row->nkeys, 1));
	for (int i = 0; i < row->nkeys; i++)
		copy->key_names[i] = pstrdup(row->key_names[i]);
	copy->key_row = strdup_or_null(row->key_row);
	copy->local_row = strdup_or_null(row->local_row);
	copy->remote_row = strdup_or_null(row->remote_row);
	copy->resolved_row = strdup_or_null(row->resolved_row);
	return copy;
}

/*
 * mmr_conflict_log_set_error keeps an error resolution's row for the
 * worker's error path (the ERROR that follows rolls the transaction back).
 * The names of conflict types, resolutions and resolvers are the core's
 * static strings.
 */
void
mmr_conflict_log_set_error(const MmrConflictLogRow *row)
{
	MemoryContext oldcxt;

	if (pending_context == NULL)
		pending_context = AllocSetContextCreate(TopMemoryContext,
												"mmr pending conflict",
												ALLOCSET_SMALL_SIZES);
	MemoryContextReset(pending_context);
	oldcxt = MemoryContextSwitchTo(pending_context);
	pending = copy_row(row);
	pending_change = mmr_remote_xact.nchanges;
	MemoryContextSwitchTo(oldcxt);
}

/* The custom resolver returned: no error resolution after all. */
void
mmr_conflict_log_clear_error(void)
{
	pending = NULL;
	if (pending_context != NULL)
		MemoryContextReset(pending_context);
}

/*
 * mmr_conflict_log_error_path runs in the worker's error path: with an
 * error resolution pending, it aborts the failed transaction and writes
 * the row in a fresh one, once per failing change (see NOTES).  The caller
 * has flushed the error state and re-throws its error afterwards.  Its own
 * failure is reported as a WARNING, never in place of the original error.
 */
void
mmr_conflict_log_error_path(void)
{
	MmrWorkerSlot *slot = mmr_apply_slot;
	MemoryContext oldcxt = CurrentMemoryContext;
	bool		logged;

	if (pending == NULL)
		return;

	AbortOutOfAnyTransaction();

	/* This transaction must not move the origin's progress. */
	replorigin_session_origin_lsn = InvalidXLogRecPtr;
	replorigin_session_origin_timestamp = 0;

	SpinLockAcquire(&slot->mutex);
	logged = slot->error_logged_lsn == pending->remote_commit_lsn &&
		slot->error_logged_change == pending_change;
	SpinLockRelease(&slot->mutex);

	PG_TRY();
	{
		if (!logged)
		{
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			mmr_conflict_log_write(pending);
			PopActiveSnapshot();
			CommitTransactionCommand();

			SpinLockAcquire(&slot->mutex);
			slot->error_logged_lsn = pending->remote_commit_lsn;
			slot->error_logged_change = pending_change;
			slot->conflicts++;
			SpinLockRelease(&slot->mutex);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		ereport(WARNING,
				(errmsg("could not log the conflict that stopped apply: %s",
						edata->message)));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	mmr_conflict_log_clear_error();
}
