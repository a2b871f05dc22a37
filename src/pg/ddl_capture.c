/*-------------------------------------------------------------------------
 *
 * ddl_capture.c
 *	  Sending DDL to the peers: mmr.replicate_ddl(command), and the capture
 *	  of DDL run on this node while mmr.ddl_replication is on.  Both log the
 *	  command in a transactional logical message (MMR_DDL_PREFIX) before
 *	  running it, so that it travels in commit order with the data changes
 *	  and goes away with its transaction if it fails.
 *
 * NOTES
 *	  Capture is a ProcessUtility hook rather than event triggers: the hook
 *	  sees each statement with its own text (stmt_location), before it runs,
 *	  so that a statement that cannot replicate is refused before it changed
 *	  anything; it also sees GRANT, temporary objects and CONCURRENTLY, and
 *	  needs nothing installed in the database.  Event triggers only offer
 *	  the whole client string (current_query()) and fire after the fact.
 *
 *	  Captured are top-level statements, and the statements of a top-level
 *	  DO block or CALL (which are refused: the block is not replicated, so
 *	  its DDL would be half-replicated).  Statements run inside another
 *	  statement (an event trigger's, CREATE SCHEMA's elements, an extension
 *	  script, mmr's own functions) belong to it and are not captured.
 *
 *	  Nothing is captured in apply workers (their DDL came from a peer and
 *	  must not be sent on: the output plugin would filter it out by origin
 *	  anyway), inside mmr.replicate_ddl(), or outside a group.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "replication/message.h"
#include "replication/origin.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "ddl.h"
#include "mmr.h"
#include "node_cache.h"

PG_FUNCTION_INFO_V1(mmr_replicate_ddl);

static ProcessUtility_hook_type prev_process_utility = NULL;

/* Nesting of ProcessUtility calls in this backend. */
static int	utility_depth = 0;

/* A top-level DO block or CALL is running. */
static bool routine_running = false;

/* Inside mmr.replicate_ddl(): its statements are already sent. */
static bool replicating = false;

static void ddl_process_utility(PlannedStmt *pstmt, const char *queryString,
								bool readOnlyTree, ProcessUtilityContext context,
								ParamListInfo params, QueryEnvironment *queryEnv,
								DestReceiver *dest, QueryCompletion *qc);

/*
 * log_ddl_message logs command, with the current role and search_path, in
 * a transactional "mmr.ddl" message.
 */
static void
log_ddl_message(const char *command)
{
	const char *role = GetUserNameFromId(GetUserId(), false);
	const char *search_path = GetConfigOption("search_path", false, false);
	MmrDdlMessage msg = {
		{role, (uint32) strlen(role)},
		{search_path, (uint32) strlen(search_path)},
		{command, (uint32) strlen(command)}
	};
	MmrError	err;
	size_t		len = mmr_ddl_message_encode(&msg, NULL, 0, &err);
	char	   *buf;

	if (len == 0)
		mmr_core_raise(&err);
	buf = palloc(len);
	if (mmr_ddl_message_encode(&msg, buf, len, &err) != len)
		mmr_core_raise(&err);
	(void) LogLogicalMessage(MMR_DDL_PREFIX, buf, len, true);
	pfree(buf);
}

/*
 * refuse raises the ERROR of a statement that does not replicate (an
 * explicit mmr.replicate_ddl() of it, or a capture that cannot replicate
 * it safely).
 */
static void
refuse(MmrDdlReason reason, const char *tag, const MmrDdlFactsDetail *detail)
{
	const char *off_hint =
		"Run it with mmr.ddl_replication off on every node that needs it.";

	switch (reason)
	{
		case MMR_DDL_REASON_NOT_DDL:
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("mmr.replicate_ddl() accepts only DDL commands"),
					 errdetail("%s is not a schema change.", tag),
					 errhint("Row changes replicate by themselves; run other commands on each node.")));
			break;
		case MMR_DDL_REASON_TEMPORARY:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("temporary objects are not replicated"),
					 errhint("Run %s without mmr.replicate_ddl().", tag)));
			break;
		case MMR_DDL_REASON_MIXED_TEMPORARY:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot replicate %s on both temporary and permanent objects", tag),
					 errdetail("Temporary objects are never replicated."),
					 errhint("Run it separately for the temporary objects.")));
			break;
		case MMR_DDL_REASON_MMR_SCHEMA:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("objects of schema \"%s\" are not replicated", MMR_SCHEMA_NAME),
					 errdetail("mmr keeps its own catalogs on each node.")));
			break;
		case MMR_DDL_REASON_GLOBAL_OBJECT:
		case MMR_DDL_REASON_EXTENSION:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s is not replicated", tag),
					 reason == MMR_DDL_REASON_EXTENSION ?
					 errdetail("An extension's script may write rows of its own tables on every node.") :
					 errdetail("Roles, databases, tablespaces, publications and subscriptions are not part of the replicated database."),
					 errhint("Run it on every node.")));
			break;
		case MMR_DDL_REASON_CONCURRENTLY:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s CONCURRENTLY cannot be replicated", tag),
					 errdetail("It commits on its own, outside the transaction that would carry it to the peers."),
					 errhint("Run it without CONCURRENTLY, or with mmr.ddl_replication off on every node.")));
			break;
		case MMR_DDL_REASON_WITH_DATA:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s cannot be replicated", tag),
					 errdetail("The rows it writes would reach the peers twice: written there by the command, and replicated from here."),
					 errhint("Create the table first (or use WITH NO DATA), then fill it with INSERT ... SELECT.")));
			break;
		case MMR_DDL_REASON_UNREPLICATED_TABLE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot replicate %s on table %s, which is not replicated",
							tag, detail->unreplicated_table),
					 errdetail("The table was excluded with mmr.set_table_replicated()."),
					 errhint("%s", off_hint)));
			break;
		case MMR_DDL_REASON_NESTED:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot replicate %s run inside a DO block or procedure", tag),
					 errdetail("mmr.ddl_replication captures top-level statements only."),
					 errhint("Run it at top level or through mmr.replicate_ddl(), or set mmr.ddl_replication off to run it on this node only.")));
			break;
		case MMR_DDL_REASON_NONE:
			break;
	}
	elog(ERROR, "unexpected DDL refusal reason %d", (int) reason);
}

/*
 * capture_active tells whether DDL run now is to be captured.
 */
static bool
capture_active(void)
{
	return mmr_ddl_replication && !replicating &&
		replorigin_session_origin == InvalidRepOriginId &&
		!IsParallelWorker() && mmr_local_node_id() != 0;
}

/*
 * statement_text is the text of one statement of queryString.
 */
static char *
statement_text(PlannedStmt *pstmt, const char *queryString)
{
	int			location = Max(pstmt->stmt_location, 0);
	int			len = pstmt->stmt_len;

	if (len <= 0)
		len = strlen(queryString + location);
	return pnstrdup(queryString + location, len);
}

/*
 * capture_statement carries out mmr_ddl_decide for a statement about to
 * run: logs it, lets it run here only, or refuses it.
 */
static void
capture_statement(PlannedStmt *pstmt, const char *queryString, bool nested)
{
	Node	   *parsetree = pstmt->utilityStmt;
	MmrDdlFacts facts = {0};
	MmrDdlFactsDetail detail = {0};
	MmrDdlDecision decision;
	const char *tag;

	mmr_ddl_gather_facts(parsetree, &facts, &detail);
	if (facts.kind == MMR_DDL_KIND_NONE || !capture_active())
		return;
	facts.nested = nested;
	mmr_ddl_decide(&facts, &decision);

	tag = GetCommandTagName(CreateCommandTag(parsetree));
	switch ((MmrDdlAction) decision.action)
	{
		case MMR_DDL_RUN:
		case MMR_DDL_LOCAL:
			break;
		case MMR_DDL_REPLICATE:
			log_ddl_message(statement_text(pstmt, queryString));
			break;
		case MMR_DDL_LOCAL_NOTICE:
			ereport(NOTICE,
					(errmsg("%s is not replicated: it runs on this node only", tag),
					 decision.reason == MMR_DDL_REASON_MMR_SCHEMA ?
					 errdetail("Objects of schema \"%s\" are never replicated.", MMR_SCHEMA_NAME) :
					 errdetail("Roles, databases, tablespaces, publications, subscriptions and extensions are not replicated."),
					 errhint("Run it on every node that needs it.")));
			break;
		case MMR_DDL_REFUSE:
			refuse((MmrDdlReason) decision.reason, tag, &detail);
			break;
	}
}

static void
ddl_process_utility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		top_level = utility_depth == 0 && context == PROCESS_UTILITY_TOPLEVEL;
	bool		in_routine = utility_depth == 1 && routine_running;
	bool		starts_routine = top_level &&
		(IsA(parsetree, DoStmt) || IsA(parsetree, CallStmt));

	if (mmr_ddl_replication && (top_level || in_routine))
		capture_statement(pstmt, queryString, in_routine);

	utility_depth++;
	if (starts_routine)
		routine_running = true;
	PG_TRY();
	{
		mmr_next_process_utility(prev_process_utility, pstmt, queryString,
								 readOnlyTree, context, params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		utility_depth--;
		if (starts_routine)
			routine_running = false;
	}
	PG_END_TRY();
}

/*
 * mmr_ddl_capture_init installs the hook (_PG_init, when preloaded).
 */
void
mmr_ddl_capture_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = ddl_process_utility;
}

/*
 * mmr_ddl_execute runs a DDL command of one or more statements, as
 * mmr.replicate_ddl() runs it here and the apply worker on each peer.
 */
void
mmr_ddl_execute(const char *command)
{
	SPI_connect();
	if (SPI_execute(command, false, 0) < 0)
		elog(ERROR, "could not run command: %s", command);
	SPI_finish();
}

/*
 * mmr.replicate_ddl(command text): every statement of command must
 * replicate (mmr_ddl_decide with explicit_call); it is then logged and run
 * here as one command, as it will run on each peer.
 */
Datum
mmr_replicate_ddl(PG_FUNCTION_ARGS)
{
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *statements = raw_parser(command, RAW_PARSE_DEFAULT);
	ListCell   *lc;

	if (statements == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mmr.replicate_ddl() needs a command")));

	foreach(lc, statements)
	{
		Node	   *parsetree = lfirst_node(RawStmt, lc)->stmt;
		MmrDdlFacts facts = {0};
		MmrDdlFactsDetail detail = {0};
		MmrDdlDecision decision;

		facts.explicit_call = true;
		mmr_ddl_gather_facts(parsetree, &facts, &detail);
		mmr_ddl_decide(&facts, &decision);
		if (decision.action != MMR_DDL_REPLICATE)
			refuse((MmrDdlReason) decision.reason,
				   GetCommandTagName(CreateCommandTag(parsetree)), &detail);
	}

	log_ddl_message(command);

	replicating = true;
	PG_TRY();
	{
		mmr_ddl_execute(command);
	}
	PG_FINALLY();
	{
		replicating = false;
	}
	PG_END_TRY();

	PG_RETURN_VOID();
}
