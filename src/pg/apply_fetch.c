/*-------------------------------------------------------------------------
 *
 * apply_fetch.c
 *	  The values a remote UPDATE left unchanged and could not carry (TOASTed
 *	  values), read from the change's origin when the local row's cannot
 *	  stand in for them (docs/apply.md, "Unchanged TOAST values").
 *
 * NOTES
 *	  Changes come straight from their origin, the peer this worker
 *	  streams from, so the origin is the peer; its DSN is in mmr.node.  The
 *	  read is a plain SELECT by the peer's replica identity key on a normal
 *	  (not replication) connection, opened on first use and kept for the
 *	  worker's life: the path is rare (conflicts and missing rows of
 *	  changes with unchanged TOAST values), and nothing else pays for it.
 *
 *	  Failures are ERRORs that name the table and the node, so that apply
 *	  stops and retries; never a guessed value.  The connection is dropped
 *	  with any failure, and the retry opens a new one.  While waiting for
 *	  the answer the worker keeps sending status updates to the peer, so
 *	  that its walsender does not time the stream out.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "apply_internal.h"
#include "mmr.h"
#include "remote.h"

/* How long one read may take before apply gives up (and retries). */
#define FETCH_TIMEOUT_MS 30000
/* Status updates to the peer while waiting, at least this often. */
#define FETCH_STATUS_INTERVAL_MS 1000

/*
 * The fetch session: an empty search_path first (the DSN's role is often a
 * superuser: no object of the origin's users may stand in for ours, as in
 * libpqwalreceiver), and the output settings the text values must be read
 * back with by this node's input functions.
 */
#define FETCH_SESSION_SETTINGS \
	"SELECT pg_catalog.set_config('search_path', '', false);" \
	"SET row_security = off; SET default_transaction_read_only = on;" \
	"SET DateStyle = ISO; SET IntervalStyle = postgres;" \
	"SET extra_float_digits = 3; SET bytea_output = hex; SET TimeZone = UTC"

/* Columns of mmr.node */
#define Anum_node_node_id 1
#define Anum_node_dsn 5

static PGconn *origin_conn = NULL;
static int32 origin_conn_node = 0;

typedef struct DsnLookup
{
	int32		node_id;
	char	   *dsn;
} DsnLookup;

static PGconn *origin_connection(MmrApplyRelation *rel, int32 node_id);
static int	errmsg_cannot_fetch(MmrApplyRelation *rel);
static const char *key_equality(MmrApplyRelation *rel, int r);
static void find_dsn(HeapTuple tuple, TupleDesc desc, void *arg);
static PGresult *run_query(MmrApplyRelation *rel, const char *sql, int nparams,
						   const char *const *values, const int *lengths,
						   const int *formats);
static void drop_connection(void);
static void close_at_exit(int code, Datum arg);

/*
 * fetch_failed raises the ERROR of a failed read: the connection is dropped
 * first, so that the retry starts afresh.
 */
static void pg_attribute_noreturn()
fetch_failed(MmrApplyRelation *rel, const char *detail)
{
	drop_connection();
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("could not fetch unchanged TOASTed values of table \"%s.%s\" from origin node \"%s\"",
					rel->nspname, rel->relname, mmr_apply_errctx.peer_name),
			 errdetail_internal("%s", detail),
			 errhint("Apply from this peer retries. The remote UPDATE left these values unchanged, and this node's own row cannot stand in for them.")));
}

/*
 * mmr_fetch_unchanged reads, from the origin of change (the peer), the
 * columns of its new row whose remote index is set in want[] (ncolumns
 * entries), by the new row's replica identity key.  Each goes into out[r]
 * as a text value or NULL, in the current memory context.  Returns false
 * when the origin has no row with that key.
 */
bool
mmr_fetch_unchanged(MmrApplyRelation *rel, const MmrChange *change,
					const bool *want, MmrValue *out)
{
	StringInfoData sql;
	const char *qualified = quote_qualified_identifier(rel->nspname, rel->relname);
	const char *relkind_of = psprintf("(SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) %s::pg_catalog.regclass)",
									  quote_literal_cstr(qualified));
	const char **values = palloc(sizeof(char *) * rel->ncolumns);
	int		   *lengths = palloc(sizeof(int) * rel->ncolumns);
	int		   *formats = palloc(sizeof(int) * rel->ncolumns);
	int			nparams = 0;
	PGresult   *res;
	char		relkind;
	bool		found;

	/*
	 * One row with the target's relkind, and the matching row's values
	 * (found is NULL without one).  The relkind test is a one-time filter:
	 * nothing of a view (or anything else by that name) is ever run.
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT k.relkind, f.* FROM %s k(relkind) LEFT JOIN (SELECT true AS found",
					 relkind_of);
	for (int r = 0; r < rel->ncolumns; r++)
	{
		if (want[r])
			appendStringInfo(&sql, ", %s", quote_identifier(rel->columns[r].name));
	}
	appendStringInfo(&sql, " FROM %s WHERE %s OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog.\"char\"[])",
					 qualified, relkind_of);

	/* The key the row has now: the new row's, or the old key it kept. */
	for (int r = 0; r < rel->ncolumns; r++)
	{
		const MmrValue *v = &change->new_tuple.values[r];

		if (!rel->columns[r].is_key)
			continue;
		if (v->kind == MMR_VALUE_UNCHANGED && change->old_kind != MMR_OLD_NONE)
			v = &change->old_tuple.values[r];
		if (v->kind != MMR_VALUE_TEXT && v->kind != MMR_VALUE_BINARY)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg_cannot_fetch(rel),
					 errdetail("The peer sent no value of key column \"%s\".",
							   rel->columns[r].name)));
		/* Binary values hold NUL bytes: copied by length. */
		values[nparams] = memcpy(palloc(v->data.len + 1), v->data.data, v->data.len);
		lengths[nparams] = (int) v->data.len;
		formats[nparams] = v->kind == MMR_VALUE_BINARY ? 1 : 0;
		nparams++;
		appendStringInfo(&sql, " AND %s OPERATOR(%s) $%d::%s",
						 quote_identifier(rel->columns[r].name),
						 key_equality(rel, r), nparams,
						 rel->columns[r].type_name);
	}
	if (nparams == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_cannot_fetch(rel),
				 errdetail("The table has no replica identity key on the peer."),
				 errhint("Set REPLICA IDENTITY FULL on the table on every node: changes then carry whole old rows.")));
	appendStringInfoString(&sql, ") f ON true");

	res = run_query(rel, sql.data, nparams, values, lengths, formats);
	relkind = PQntuples(res) > 0 ? *PQgetvalue(res, 0, 0) : '\0';
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
	{
		PQclear(res);
		drop_connection();
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg_cannot_fetch(rel),
				 errdetail("\"%s.%s\" is not a table on the origin (relkind \"%c\").",
						   rel->nspname, rel->relname, relkind ? relkind : '?')));
	}
	if (PQntuples(res) > 1)
	{
		PQclear(res);
		fetch_failed(rel, "The key of the row matched more than one row on the origin.");
	}
	found = !PQgetisnull(res, 0, 1);
	for (int r = 0, c = 2; found && r < rel->ncolumns; r++)
	{
		if (!want[r])
			continue;
		if (PQgetisnull(res, 0, c))
			out[r].kind = MMR_VALUE_NULL;
		else
		{
			out[r].kind = MMR_VALUE_TEXT;
			out[r].data.len = PQgetlength(res, 0, c);
			out[r].data.data = pnstrdup(PQgetvalue(res, 0, c), out[r].data.len);
		}
		c++;
	}
	PQclear(res);
	return found;
}

/* The message of an ERROR that refuses the fetch before asking the origin. */
static int
errmsg_cannot_fetch(MmrApplyRelation *rel)
{
	return errmsg("cannot fetch unchanged TOASTed values of table \"%s.%s\" from origin node \"%s\"",
				  rel->nspname, rel->relname, mmr_apply_errctx.peer_name);
}

/*
 * key_equality returns the schema-qualified equality operator of the
 * local type of the peer's key column r (its default btree or hash
 * opclass's, as a unique index compares), for OPERATOR(): never one that
 * the origin's search_path would choose.
 */
static const char *
key_equality(MmrApplyRelation *rel, int r)
{
	TupleDesc	desc = RelationGetDescr(rel->localrel);
	Oid			eq_opr = InvalidOid;
	HeapTuple	tuple;
	Form_pg_operator op;
	char	   *name;

	for (int i = 0; i < rel->natts; i++)
	{
		if (rel->local[i].remote_index == r)
			eq_opr = lookup_type_cache(TupleDescAttr(desc, i)->atttypid,
									   TYPECACHE_EQ_OPR)->eq_opr;
	}
	if (!OidIsValid(eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg_cannot_fetch(rel),
				 errdetail("Key column \"%s\" has no local column with an equality operator.",
						   rel->columns[r].name)));
	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(eq_opr));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for operator %u", eq_opr);
	op = (Form_pg_operator) GETSTRUCT(tuple);
	name = psprintf("%s.%s",
					quote_identifier(get_namespace_name(op->oprnamespace)),
					NameStr(op->oprname));
	ReleaseSysCache(tuple);
	return name;
}

/*
 * origin_connection returns the connection to node_id, opening it when
 * there is none.  A read-only session that sees every row (row security
 * off: a policy that hid the row would raise an error rather than make it
 * look deleted).
 */
static PGconn *
origin_connection(MmrApplyRelation *rel, int32 node_id)
{
	static bool exit_hook = false;
	DsnLookup	lookup = {node_id, NULL};
	MemoryContext oldcxt = CurrentMemoryContext;
	PGresult   *res;

	if (origin_conn != NULL && origin_conn_node == node_id)
		return origin_conn;
	drop_connection();

	(void) mmr_catalog_read_all("node", find_dsn, &lookup);
	if (lookup.dsn == NULL)
		fetch_failed(rel, psprintf("Node %d is not in mmr.node.", node_id));

	if (!exit_hook)
	{
		on_proc_exit(close_at_exit, (Datum) 0);
		exit_hook = true;
	}

	/* Name the table and the reason in the connection failure. */
	PG_TRY();
	{
		origin_conn = mmr_remote_connect(lookup.dsn, false,
										 psprintf("mmr fetch %s", mmr_apply_errctx.peer_name));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION)
			PG_RE_THROW();
		FlushErrorState();
		fetch_failed(rel, edata->detail ?
					 psprintf("%s: %s", edata->message, edata->detail) :
					 edata->message);
	}
	PG_END_TRY();
	origin_conn_node = node_id;

	res = mmr_remote_exec(origin_conn, FETCH_SESSION_SETTINGS);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		char	   *msg = res ? pchomp(PQresultErrorMessage(res)) :
			mmr_remote_error(origin_conn);

		PQclear(res);
		fetch_failed(rel, msg);
	}
	PQclear(res);
	return origin_conn;
}

static void
find_dsn(HeapTuple tuple, TupleDesc desc, void *arg)
{
	DsnLookup  *lookup = (DsnLookup *) arg;
	bool		isnull;
	Datum		d = heap_getattr(tuple, Anum_node_node_id, desc, &isnull);

	if (isnull || DatumGetInt32(d) != lookup->node_id)
		return;
	d = heap_getattr(tuple, Anum_node_dsn, desc, &isnull);
	if (!isnull)
		lookup->dsn = TextDatumGetCString(d);
}

/*
 * run_query runs one parameterized SELECT on the origin and returns its
 * rows, or raises the ERROR of a failure or of FETCH_TIMEOUT_MS passing.
 */
static PGresult *
run_query(MmrApplyRelation *rel, const char *sql, int nparams,
		  const char *const *values, const int *lengths, const int *formats)
{
	PGconn	   *conn = origin_connection(rel, mmr_apply_slot->peer_node_id);
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   FETCH_TIMEOUT_MS);
	PGresult   *last = NULL;
	PGresult   *res;

	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, lengths, formats, 0))
		fetch_failed(rel, mmr_remote_error(conn));
	for (;;)
	{
		while (PQisBusy(conn))
		{
			long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
															   deadline);

			if (left <= 0)
			{
				PQclear(last);
				fetch_failed(rel, psprintf("The origin did not answer within %d seconds.",
										   FETCH_TIMEOUT_MS / 1000));
			}
			(void) mmr_remote_wait(conn, false, Min(left, FETCH_STATUS_INTERVAL_MS));
			mmr_apply_send_status();
			if (!PQconsumeInput(conn))
			{
				PQclear(last);
				fetch_failed(rel, mmr_remote_error(conn));
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		PQclear(last);
		last = res;
	}
	if (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK)
	{
		char	   *msg = last ? pchomp(PQresultErrorMessage(last)) :
			mmr_remote_error(conn);

		PQclear(last);
		fetch_failed(rel, msg);
	}
	return last;
}

static void
drop_connection(void)
{
	if (origin_conn != NULL)
		PQfinish(origin_conn);
	origin_conn = NULL;
	origin_conn_node = 0;
}

static void
close_at_exit(int code, Datum arg)
{
	drop_connection();
}
