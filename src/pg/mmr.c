/*-------------------------------------------------------------------------
 *
 * mmr.c
 *	  Module entry point: _PG_init.
 *
 * NOTES
 *	  mmr works only when preloaded (shared_preload_libraries): it needs
 *	  shared memory and background workers, which can only be set up at
 *	  postmaster start.  CREATE EXTENSION and the output plugin also work
 *	  without the preload; functions that need it call mmr_require_preload().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"

#include "ddl.h"
#include "horizon_emit.h"
#include "mmr.h"
#include "shmem.h"
#include "supervisor.h"

PG_MODULE_MAGIC;

bool		mmr_is_preloaded = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);
static void mmr_shmem_request_hook(void);
static void mmr_shmem_startup_hook(void);

void
_PG_init(void)
{
	mmr_define_gucs();

	if (!process_shared_preload_libraries_in_progress)
		return;

	mmr_is_preloaded = true;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mmr_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mmr_shmem_startup_hook;

	mmr_supervisor_register();
	mmr_horizon_emit_init();

	/* DDL capture (mmr.ddl_replication, ddl_capture.c) */
	mmr_ddl_capture_init();
}

static void
mmr_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	mmr_shmem_request();
}

static void
mmr_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	mmr_shmem_startup();
}

/*
 * mmr_require_preload raises an ERROR unless mmr was preloaded.
 */
void
mmr_require_preload(void)
{
	if (!mmr_is_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mmr is not loaded through shared_preload_libraries"),
				 errhint("Add mmr to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * mmr_next_process_utility runs the ProcessUtility hook that was installed
 * before one of mmr's own (prev), or PostgreSQL's.
 */
void
mmr_next_process_utility(ProcessUtility_hook_type prev, PlannedStmt *pstmt,
						 const char *queryString, bool readOnlyTree,
						 ProcessUtilityContext context, ParamListInfo params,
						 QueryEnvironment *queryEnv, DestReceiver *dest,
						 QueryCompletion *qc)
{
	if (prev)
		prev(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}
