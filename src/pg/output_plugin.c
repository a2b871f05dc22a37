/*-------------------------------------------------------------------------
 *
 * output_plugin.c
 *	  The mmr logical decoding output plugin: turns this node's committed
 *	  transactions into mmr protocol messages (docs/protocol.md).
 *
 * NOTES
 *	  Only changes written locally are sent: changes that an apply worker
 *	  wrote under a replication origin are filtered out, so in a full mesh
 *	  nothing loops back.  (PostgreSQL 15's pgoutput has no such filter.)
 *
 *	  BEGIN is deferred to the first change that is sent, so transactions
 *	  that touch only unreplicated tables cost the peers nothing.
 *
 *	  A transaction's messages are batched: each write (one CopyData on a
 *	  replication connection) carries as many whole messages as fit in
 *	  MMR_BATCH_BYTES, and COMMIT ends the batch.  A small transaction is
 *	  then one write, one send() in the walsender, instead of three or more
 *	  (the send is what a walsender spends most of its time on).
 *
 *	  Every column is rendered here, in C, by the type's send or output
 *	  function (cached per relation); the core then frames the message in
 *	  one call, writing straight into the walsender's output buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "mmr.h"
#include "output_relcache.h"

extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/* A batch is written out once it holds this much. */
#define MMR_BATCH_BYTES (64 * 1024)

typedef struct MmrOutputData
{
	MemoryContext change_context;	/* reset after every change */
	bool		write_open;		/* ctx->out holds a batch being built */
	bool		begin_sent;		/* BEGIN of the current transaction sent
								 * (transactions are decoded one at a time) */
	uint32		proto_version;
	bool		binary;
	bool		messages;
} MmrOutputData;

static void mmr_output_startup(LogicalDecodingContext *ctx,
							   OutputPluginOptions *opt, bool is_init);
static void mmr_output_shutdown(LogicalDecodingContext *ctx);
static void mmr_output_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn);
static void mmr_output_commit(LogicalDecodingContext *ctx,
							  ReorderBufferTXN *txn, XLogRecPtr commit_lsn);
static void mmr_output_change(LogicalDecodingContext *ctx,
							  ReorderBufferTXN *txn, Relation rel,
							  ReorderBufferChange *change);
static void mmr_output_truncate(LogicalDecodingContext *ctx,
								ReorderBufferTXN *txn, int nrelations,
								Relation relations[],
								ReorderBufferChange *change);
static void mmr_output_message(LogicalDecodingContext *ctx,
							   ReorderBufferTXN *txn, XLogRecPtr lsn,
							   bool transactional, const char *prefix,
							   Size size, const char *message);
static bool mmr_output_filter_origin(LogicalDecodingContext *ctx,
									 RepOriginId origin_id);

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	AssertVariableIsOfType(&_PG_output_plugin_init, LogicalOutputPluginInit);

	cb->startup_cb = mmr_output_startup;
	cb->begin_cb = mmr_output_begin;
	cb->change_cb = mmr_output_change;
	cb->truncate_cb = mmr_output_truncate;
	cb->commit_cb = mmr_output_commit;
	cb->message_cb = mmr_output_message;
	cb->filter_by_origin_cb = mmr_output_filter_origin;
	cb->shutdown_cb = mmr_output_shutdown;
}

static void
parse_output_options(List *options, MmrOutputData *data)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *elem = lfirst(lc);

		if (strcmp(elem->defname, "proto_version") == 0)
		{
			int32		version = pg_strtoint32(defGetString(elem));

			if (version < MMR_PROTO_VERSION_MIN || version > MMR_PROTO_VERSION_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("mmr protocol version %d is not supported", version),
						 errhint("This server supports mmr protocol versions %d to %d.",
								 MMR_PROTO_VERSION_MIN, MMR_PROTO_VERSION_MAX)));
			data->proto_version = (uint32) version;
		}
		else if (strcmp(elem->defname, "binary") == 0)
			data->binary = defGetBoolean(elem);
		else if (strcmp(elem->defname, "messages") == 0)
			data->messages = defGetBoolean(elem);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized mmr output plugin option \"%s\"",
							elem->defname),
					 errhint("Valid options are proto_version, binary and messages.")));
	}
}

static void
mmr_output_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
				   bool is_init)
{
	MmrOutputData *data = MemoryContextAllocZero(ctx->context,
												 sizeof(MmrOutputData));

	data->change_context = AllocSetContextCreate(ctx->context,
												 "mmr output change",
												 ALLOCSET_DEFAULT_SIZES);
	data->proto_version = MMR_PROTO_VERSION_MAX;
	data->binary = true;
	data->messages = true;
	parse_output_options(ctx->output_plugin_options, data);

	ctx->output_plugin_private = data;
	opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;

	mmr_output_relcache_reset();
}

static void
mmr_output_shutdown(LogicalDecodingContext *ctx)
{
	/* The per-stream memory goes with ctx->context. */
	ctx->output_plugin_private = NULL;
}

static bool
mmr_output_filter_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	return origin_id != InvalidRepOriginId;
}

static void
mmr_output_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	MmrOutputData *data = ctx->output_plugin_private;

	data->begin_sent = false;
}
/*
 * append_message adds msg to the batch being built in ctx->out, starting a
 * new one when needed.  end_of_transaction (COMMIT) or a full batch writes
 * it out.
 */
static void
append_message(LogicalDecodingContext *ctx, const MmrMessage *msg,
			   bool end_of_transaction)
{
	MmrOutputData *data = ctx->output_plugin_private;

	if (!data->write_open)
	{
		OutputPluginPrepareWrite(ctx, end_of_transaction);
		data->write_open = true;
	}
	mmr_core_append_message(ctx->out, data->proto_version, msg);
	if (end_of_transaction || ctx->out->len >= MMR_BATCH_BYTES)
	{
		OutputPluginWrite(ctx, end_of_transaction);
		data->write_open = false;
	}
}

/*
 * send_begin_once sends the deferred BEGIN before the first change of a
 * transaction that is sent.
 */
static void
send_begin_once(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	MmrOutputData *data = ctx->output_plugin_private;
	MmrMessage	msg = {.kind = MMR_MSG_BEGIN};
	char	   *origin = NULL;

	if (data->begin_sent)
		return;

	if (txn->origin_id != InvalidRepOriginId)
		replorigin_by_oid(txn->origin_id, true, &origin);

	msg.u.begin.final_lsn = txn->final_lsn;
	msg.u.begin.commit_time = txn->xact_time.commit_time;
	msg.u.begin.xid = txn->xid;
	msg.u.begin.origin.data = origin;
	msg.u.begin.origin.len = origin ? strlen(origin) : 0;
	append_message(ctx, &msg, false);
	data->begin_sent = true;
}

static void
mmr_output_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  XLogRecPtr commit_lsn)
{
	MmrOutputData *data = ctx->output_plugin_private;
	MmrMessage	msg = {.kind = MMR_MSG_COMMIT};

	if (!data->begin_sent)
	{
		/* Nothing was sent; still let the walsender report progress. */
		OutputPluginUpdateProgress(ctx, true);
		return;
	}

	OutputPluginUpdateProgress(ctx, false);
	msg.u.commit.flags = 0;
	msg.u.commit.commit_lsn = commit_lsn;
	msg.u.commit.end_lsn = txn->end_lsn;
	msg.u.commit.commit_time = txn->xact_time.commit_time;
	append_message(ctx, &msg, true);
}

static inline MmrBytes
cstring_bytes(const char *s)
{
	MmrBytes	b = {s, (uint32) strlen(s)};

	return b;
}

/*
 * send_relation_once sends the RELATION message of rel before its first
 * change in this stream, and again after it changed.
 */
static void
send_relation_once(LogicalDecodingContext *ctx, Relation rel,
				   MmrOutputRelation *entry)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MmrMessage	msg = {.kind = MMR_MSG_RELATION};
	MmrColumn  *columns;

	if (entry->schema_sent)
		return;

	columns = palloc0(sizeof(MmrColumn) * Max(entry->ncolumns, 1));
	for (int i = 0; i < entry->ncolumns; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, entry->columns[i].attindex);

		columns[i].flags = entry->columns[i].is_key ? MMR_COLUMN_KEY : 0;
		columns[i].name = cstring_bytes(NameStr(att->attname));
		columns[i].type_oid = att->atttypid;
		columns[i].typmod = att->atttypmod;
		columns[i].type_name =
			cstring_bytes(format_type_extended(att->atttypid, -1,
											   FORMAT_TYPE_FORCE_QUALIFY));
	}

	msg.u.relation.relid = RelationGetRelid(rel);
	msg.u.relation.nspname =
		cstring_bytes(get_namespace_name(RelationGetNamespace(rel)));
	msg.u.relation.relname = cstring_bytes(RelationGetRelationName(rel));
	msg.u.relation.replica_identity = (uint8) rel->rd_rel->relreplident;
	msg.u.relation.ncolumns = (uint16) entry->ncolumns;
	msg.u.relation.columns = columns;
	append_message(ctx, &msg, false);
	entry->schema_sent = true;
}

/*
 * fill_tuple renders the sent columns of a heap tuple into values.
 */
static void
fill_tuple(MmrTuple *out, MmrValue *values, HeapTuple tuple, TupleDesc desc,
		   MmrOutputRelation *entry)
{
	Datum	   *datums = palloc(sizeof(Datum) * desc->natts);
	bool	   *isnull = palloc(sizeof(bool) * desc->natts);

	heap_deform_tuple(tuple, desc, datums, isnull);

	for (int i = 0; i < entry->ncolumns; i++)
	{
		MmrOutputColumn *col = &entry->columns[i];
		Datum		d = datums[col->attindex];
		MmrValue   *v = &values[i];

		if (isnull[col->attindex])
		{
			v->kind = MMR_VALUE_NULL;
			continue;
		}
		if (col->is_varlena && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(d)))
		{
			/* Unchanged TOASTed value: the peer keeps its own. */
			v->kind = MMR_VALUE_UNCHANGED;
			continue;
		}
		if (col->binary)
		{
			bytea	   *b = SendFunctionCall(&col->out_func, d);

			v->kind = MMR_VALUE_BINARY;
			v->data.data = VARDATA(b);
			v->data.len = VARSIZE(b) - VARHDRSZ;
		}
		else
		{
			char	   *s = OutputFunctionCall(&col->out_func, d);

			v->kind = MMR_VALUE_TEXT;
			v->data = cstring_bytes(s);
		}
	}
	out->natts = (uint16) entry->ncolumns;
	out->values = values;
}

static void
mmr_output_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  Relation rel, ReorderBufferChange *change)
{
	MmrOutputData *data = ctx->output_plugin_private;
	MmrOutputRelation *entry = mmr_output_relation_get(rel, data->binary);
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext oldcxt;
	MmrMessage	msg = {0};
	HeapTuple	oldtuple = NULL;
	HeapTuple	newtuple = NULL;

	if (!entry->published)
		return;

	if (change->data.tp.oldtuple != NULL)
		oldtuple = &change->data.tp.oldtuple->tuple;
	if (change->data.tp.newtuple != NULL)
		newtuple = &change->data.tp.newtuple->tuple;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			msg.kind = MMR_MSG_INSERT;
			if (newtuple == NULL)
				return;
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			msg.kind = MMR_MSG_UPDATE;
			if (newtuple == NULL)
				return;
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			msg.kind = MMR_MSG_DELETE;
			if (oldtuple == NULL)
			{
				/* No replica identity: the peer could not find the row. */
				elog(DEBUG1, "mmr: skipping DELETE on \"%s\" without replica identity",
					 RelationGetRelationName(rel));
				return;
			}
			break;
		default:
			return;
	}

	oldcxt = MemoryContextSwitchTo(data->change_context);

	send_begin_once(ctx, txn);
	send_relation_once(ctx, rel, entry);

	msg.u.change.relid = RelationGetRelid(rel);
	if (oldtuple != NULL)
	{
		msg.u.change.old_kind =
			rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL ?
			MMR_OLD_FULL : MMR_OLD_KEY;
		fill_tuple(&msg.u.change.old_tuple,
				   palloc(sizeof(MmrValue) * Max(entry->ncolumns, 1)),
				   oldtuple, desc, entry);
	}
	if (newtuple != NULL)
		fill_tuple(&msg.u.change.new_tuple,
				   palloc(sizeof(MmrValue) * Max(entry->ncolumns, 1)),
				   newtuple, desc, entry);
	append_message(ctx, &msg, false);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(data->change_context);
}

static void
mmr_output_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					int nrelations, Relation relations[],
					ReorderBufferChange *change)
{
	MmrOutputData *data = ctx->output_plugin_private;
	MemoryContext oldcxt = MemoryContextSwitchTo(data->change_context);
	uint32	   *relids = palloc(sizeof(uint32) * nrelations);
	MmrMessage	msg = {.kind = MMR_MSG_TRUNCATE};
	int			n = 0;

	for (int i = 0; i < nrelations; i++)
	{
		MmrOutputRelation *entry = mmr_output_relation_get(relations[i],
														   data->binary);

		if (!entry->published)
			continue;
		send_begin_once(ctx, txn);
		send_relation_once(ctx, relations[i], entry);
		relids[n++] = RelationGetRelid(relations[i]);
	}

	if (n > 0)
	{
		msg.u.truncate.flags =
			(change->data.truncate.cascade ? MMR_TRUNCATE_CASCADE : 0) |
			(change->data.truncate.restart_seqs ? MMR_TRUNCATE_RESTART_IDENTITY : 0);
		msg.u.truncate.nrelids = (uint32) n;
		msg.u.truncate.relids = relids;
		append_message(ctx, &msg, false);
	}

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(data->change_context);
}

/*
 * Transactional messages travel in commit order with the data (DDL and
 * markers use them).  Of the non-transactional ones only mmr's heartbeat
 * (MMR_HORIZON_PREFIX) is sent, alone, between transactions: decoding
 * hands them over as they are read, never inside a replayed transaction.
 */
static void
mmr_output_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				   XLogRecPtr lsn, bool transactional, const char *prefix,
				   Size size, const char *message)
{
	MmrOutputData *data = ctx->output_plugin_private;
	MmrMessage	msg = {.kind = MMR_MSG_MESSAGE};

	if (!data->messages ||
		(!transactional && strcmp(prefix, MMR_HORIZON_PREFIX) != 0))
		return;
	if (size > PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logical message of %zu bytes is too large for mmr", size)));

	if (transactional)
		send_begin_once(ctx, txn);
	msg.u.message.flags = transactional ? MMR_MESSAGE_TRANSACTIONAL : 0;
	msg.u.message.prefix = cstring_bytes(prefix);
	msg.u.message.content.data = message;
	msg.u.message.content.len = (uint32) size;
	append_message(ctx, &msg, !transactional);
}
