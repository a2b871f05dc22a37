/*-------------------------------------------------------------------------
 *
 * skip_transaction.c
 *	  mmr.skip_transaction(peer_name, remote_commit_lsn) (SPEC 3), like
 *	  ALTER SUBSCRIPTION ... SKIP: the one remote transaction of a peer that
 *	  commits at that LSN is not applied.
 *
 * NOTES
 *	  The request is a row of mmr.apply_skip (local, one per peer), so it
 *	  survives restarts.  The apply worker reads it when it starts and again
 *	  after the table changed (its mmr.catalog_changed trigger invalidates
 *	  the table's relcache entry), checked at each remote BEGIN: the common
 *	  path costs one look at the invalidation queue.
 *
 *	  The transaction whose commit LSN matches is read but not applied; at
 *	  its COMMIT a local transaction deletes the request, logs one row in
 *	  mmr.conflict_history (resolution skip) and commits with the remote
 *	  commit as origin progress, so the transaction is never applied or
 *	  skipped again.  The first other transaction that commits clears the
 *	  request with a WARNING (as PostgreSQL does with a skip LSN that does
 *	  not match), in its own commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/sinval.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"

#include "apply_internal.h"
#include "mmr.h"
#include "node_cache.h"
#include "tombstone.h"

PG_FUNCTION_INFO_V1(mmr_skip_transaction);

/* The apply worker's copy of its peer's request. */
static int32 skip_peer_node_id = 0;
static Oid	skip_relid = InvalidOid;	/* mmr.apply_skip, once read */
static XLogRecPtr skip_lsn = InvalidXLogRecPtr;
static bool skip_stale = true;
static bool skip_callback_registered = false;

static void skip_relcache_callback(Datum arg, Oid relid);
static void skip_read(void);
static void skip_delete(void);
static void skip_log(const MmrRemoteXact *xact, const MmrCommit *commit);
static Datum run_sql(const char *sql, int nargs, Oid *types, Datum *values,
				     int expected, bool *found);

/*
 * mmr.skip_transaction(peer_name text, remote_commit_lsn pg_lsn): records
 * the request, replacing an earlier one for the same peer.
 */
Datum
mmr_skip_transaction(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {TEXTOID, PG_LSNOID};
	Datum		values[2];
	char	   *peer_name;
	XLogRecPtr	lsn;
	bool		found;
	int32		node_id;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to skip a remote transaction")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null",
						PG_ARGISNULL(0) ? "peer_name" : "remote_commit_lsn")));
	peer_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	lsn = PG_GETARG_LSN(1);
	if (XLogRecPtrIsInvalid(lsn))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid remote_commit_lsn %X/%X", LSN_FORMAT_ARGS(lsn)),
				 errhint("Use the commit LSN shown in mmr.replication_status.last_error.")));

	values[0] = PG_GETARG_DATUM(0);
	node_id = DatumGetInt32(run_sql("SELECT node_id FROM mmr.node WHERE node_name = $1",
									1, types, values, SPI_OK_SELECT, &found));
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" does not exist", peer_name),
				 errhint("The peers of this node are listed in mmr.replication_status.")));
	if (node_id == mmr_local_node_id())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node \"%s\" is the local node", peer_name),
				 errdetail("Only transactions received from a peer can be skipped.")));

	types[0] = INT4OID;
	values[0] = Int32GetDatum(node_id);
	values[1] = PG_GETARG_DATUM(1);
	(void) run_sql("INSERT INTO mmr.apply_skip AS s (node_id, remote_commit_lsn) "
				   "VALUES ($1, $2) ON CONFLICT (node_id) DO UPDATE "
				   "SET remote_commit_lsn = EXCLUDED.remote_commit_lsn, "
				   "    requested_at = now()",
				   2, types, values, SPI_OK_INSERT, &found);
	PG_RETURN_VOID();
}

/*
 * mmr_skip_init prepares the apply worker for peer_node_id's requests; it
 * reads the request at the first BEGIN.
 */
void
mmr_skip_init(int32 peer_node_id)
{
	skip_peer_node_id = peer_node_id;
	skip_stale = true;
	if (!skip_callback_registered)
	{
		CacheRegisterRelcacheCallback(skip_relcache_callback, (Datum) 0);
		skip_callback_registered = true;
	}
}

static void
skip_relcache_callback(Datum arg, Oid relid)
{
	/* No catalog access here: the relid was looked up when last read. */
	if (!OidIsValid(relid) || relid == skip_relid)
		skip_stale = true;
}

/*
 * mmr_skip_matches tells, at a remote BEGIN (outside any local
 * transaction), whether the transaction committing at final_lsn is the
 * one to skip.
 */
bool
mmr_skip_matches(XLogRecPtr final_lsn)
{
	AcceptInvalidationMessages();
	if (skip_stale)
	{
		StartTransactionCommand();
		skip_read();
		CommitTransactionCommand();
		MemoryContextSwitchTo(mmr_apply_message_context);
	}
	return !XLogRecPtrIsInvalid(skip_lsn) && skip_lsn == final_lsn;
}

/* Reads the request into skip_lsn (InvalidXLogRecPtr: none). */
static void
skip_read(void)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(skip_peer_node_id)};
	bool		found;
	Datum		lsn;

	skip_stale = false;
	skip_relid = mmr_catalog_relid("apply_skip");
	lsn = run_sql("SELECT remote_commit_lsn FROM mmr.apply_skip WHERE node_id = $1",
					 1, types, values, SPI_OK_SELECT, &found);
	skip_lsn = found ? DatumGetLSN(lsn) : InvalidXLogRecPtr;
}

/* mmr_skip_pending: a request waits, to be consumed or cleared at COMMIT. */
bool
mmr_skip_pending(void)
{
	return !XLogRecPtrIsInvalid(skip_lsn);
}

/*
 * mmr_skip_commit, inside the local transaction that commits the remote
 * transaction xact (called only while a request is pending): the request
 * is consumed when xact was skipped (and the skip is logged), cleared with
 * a WARNING otherwise.
 */
void
mmr_skip_commit(const MmrRemoteXact *xact, const MmrCommit *commit)
{
	if (xact->skipping)
	{
		skip_log(xact, commit);
		ereport(LOG,
				(errmsg("skipped remote transaction %u of peer \"%s\" committed at %X/%X",
						xact->xid, mmr_apply_errctx.peer_name,
						LSN_FORMAT_ARGS(xact->final_lsn)),
				 errdetail("%llu changes were not applied, as mmr.skip_transaction() asked.",
						   (unsigned long long) xact->nskipped)));
	}
	else
		ereport(WARNING,
				(errmsg("skip request for peer \"%s\" cleared",
						mmr_apply_errctx.peer_name),
				 errdetail("Remote transaction %u committed at %X/%X, not at the requested %X/%X.",
						   xact->xid, LSN_FORMAT_ARGS(xact->final_lsn),
						   LSN_FORMAT_ARGS(skip_lsn))));
	skip_delete();
}

/* Deletes the request we hold (not one that replaced it meanwhile). */
static void
skip_delete(void)
{
	Oid			types[2] = {INT4OID, PG_LSNOID};
	Datum		values[2] = {Int32GetDatum(skip_peer_node_id), LSNGetDatum(skip_lsn)};
	bool		found;

	(void) run_sql("DELETE FROM mmr.apply_skip WHERE node_id = $1 AND remote_commit_lsn = $2",
					  2, types, values, SPI_OK_DELETE, &found);
	skip_lsn = InvalidXLogRecPtr;
}

/*
 * skip_log writes the conflict log row of a skipped transaction: what was
 * not applied (the first relations it changed, its xid, change count and
 * end), from which peer, committed when and at which LSN.  Written as the
 * catalog's owner, like every conflict.
 */
static void
skip_log(const MmrRemoteXact *xact, const MmrCommit *commit)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, PG_LSNOID,
	INT8OID, INT8OID, PG_LSNOID};
	Datum		values[7];
	StringInfoData relations;
	MmrAsOwner	as_owner;
	bool		found;

	initStringInfo(&relations);
	for (int i = 0; i < xact->nskipped_relations; i++)
		appendStringInfo(&relations, "%s%s", i > 0 ? ", " : "",
						 xact->skipped_relations[i]);
	if (xact->more_skipped_relations)
		appendStringInfoString(&relations, ", ...");

	values[0] = CStringGetTextDatum(relations.data);
	values[1] = CStringGetTextDatum(mmr_apply_errctx.peer_name);
	values[2] = TimestampTzGetDatum(commit->commit_time);
	values[3] = LSNGetDatum(xact->final_lsn);
	values[4] = Int64GetDatum((int64) xact->xid);
	values[5] = Int64GetDatum((int64) xact->nskipped);
	values[6] = LSNGetDatum(commit->end_lsn);

	mmr_as_owner_enter(&as_owner);
	(void) run_sql("INSERT INTO mmr.conflict_history "
					  "(relation, conflict_type, resolution, resolver, remote_node, "
					  " remote_commit_ts, remote_commit_lsn, remote_row) "
					  "VALUES ($1, 'transaction_skipped', 'skip', 'skip_transaction', "
					  " $2, $3, $4, pg_catalog.jsonb_build_object("
					  "  'xid', $5, 'changes', $6, 'end_lsn', $7))",
					  7, types, values, SPI_OK_INSERT, &found);
	mmr_as_owner_leave(&as_owner);
}

/*
 * run_sql runs one statement in the current transaction and returns the first column of the first row it returns (*found false when
 * none).
 */
static Datum
run_sql(const char *sql, int nargs, Oid *types, Datum *values,
		   int expected, bool *found)
{
	Datum		result = (Datum) 0;
	int			ret;

	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	ret = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
	if (ret != expected)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(ret));
	*found = SPI_tuptable != NULL && SPI_processed > 0;
	if (*found)
	{
		bool		isnull;

		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							   &isnull);
		*found = !isnull;
	}
	SPI_finish();
	PopActiveSnapshot();
	return result;
}
