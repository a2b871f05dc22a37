/*-------------------------------------------------------------------------
 *
 * ddl_apply.c
 *	  Applies a peer's DDL message ("mmr.ddl") as one step of the remote
 *	  transaction that carries it: as the role that ran it on the peer,
 *	  with the peer's search_path.
 *
 * NOTES
 *	  A command that fails here stops apply from the peer like any other
 *	  error: mmr.replication_status shows the state error and the command's
 *	  error in last_error, nothing after it is applied, and the worker
 *	  retries the whole transaction (the command first) after its backoff,
 *	  so that apply resumes once the cause is fixed.
 *
 *	  The apply worker runs under the peer's replication origin, so the
 *	  command is not captured again (ddl_capture.c) and nothing it causes
 *	  is sent on to other peers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "apply_internal.h"
#include "ddl.h"
#include "mmr.h"

/*
 * run_as runs command as roleid with search_path, restoring both after.
 * An error goes on as "the peer's DDL failed here", naming the command.
 */
static void
run_as(Oid roleid, const char *search_path, const char *command)
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	MemoryContext oldcxt = CurrentMemoryContext;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(roleid, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", search_path, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	PG_TRY();
	{
		mmr_ddl_execute(command);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("DDL from peer \"%s\" failed on this node: %s",
						mmr_apply_errctx.peer_name, edata->message),
				 errdetail("The command was: %s", command),
				 errhint("Fix the cause on this node: apply retries the command, and applies nothing after it from this peer until it succeeds.")));
	}
	PG_END_TRY();

	AtEOXact_GUC(true, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * mmr_ddl_apply runs the DDL command of a peer's message.  Caller has the
 * local transaction open with a snapshot (one step).
 */
void
mmr_ddl_apply(const char *data, size_t len)
{
	MmrDdlMessage msg;
	MmrError	err;
	char	   *role;
	char	   *command;
	Oid			roleid;

	mmr_apply_errctx.message_type = "DDL";
	if (mmr_ddl_message_decode(data, len, &msg, &err) != MMR_OK)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer \"%s\" sent a malformed DDL message",
						mmr_apply_errctx.peer_name),
				 errdetail_internal("%s", err.message)));

	role = pnstrdup(msg.role.data, msg.role.len);
	command = pnstrdup(msg.command.data, msg.command.len);
	roleid = get_role_oid(role, true);
	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" of a DDL command from peer \"%s\" does not exist on this node",
						role, mmr_apply_errctx.peer_name),
				 errdetail("The command was: %s", command),
				 errhint("Create the role on this node: apply then retries the command.")));

	run_as(roleid, pnstrdup(msg.search_path.data, msg.search_path.len), command);
}
