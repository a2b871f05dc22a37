/*-------------------------------------------------------------------------
 *
 * supervisor.c
 *	  The mmr supervisor: one static background worker per server that
 *	  starts a manager for every database that belongs to a group.
 *
 * NOTES
 *	  Without a connection to a database the supervisor cannot see which
 *	  databases have a group, so it starts a manager for every database
 *	  that accepts connections, once at startup and again whenever a group
 *	  is created or joined (MmrShmem->group_change_count moves).  A manager
 *	  that finds no group exits at once and holds no slot.  A manager that
 *	  holds a slot (its database has a group) and stops is restarted with
 *	  backoff.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shmem.h"
#include "supervisor.h"

/* What the supervisor remembers about each database's manager. */
typedef struct ManagedDatabase
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
	TimestampTz next_start;
	int			backoff_ms;
	bool		seen;			/* still exists in pg_database */
} ManagedDatabase;

#define MAX_DATABASES 1024

static ManagedDatabase databases[MAX_DATABASES];
static int	ndatabases = 0;

void
mmr_supervisor_register(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	strlcpy(bgw.bgw_library_name, "mmr", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "mmr_supervisor_main", BGW_MAXLEN);
	strlcpy(bgw.bgw_name, "mmr supervisor", BGW_MAXLEN);
	strlcpy(bgw.bgw_type, "mmr supervisor", BGW_MAXLEN);
	RegisterBackgroundWorker(&bgw);
}

static ManagedDatabase *
managed_database(Oid dboid)
{
	for (int i = 0; i < ndatabases; i++)
		if (databases[i].dboid == dboid)
			return &databases[i];
	if (ndatabases == MAX_DATABASES)
		return NULL;
	memset(&databases[ndatabases], 0, sizeof(ManagedDatabase));
	databases[ndatabases].dboid = dboid;
	databases[ndatabases].backoff_ms = MMR_RESTART_MIN_MS;
	return &databases[ndatabases++];
}

/*
 * scan_databases marks every database that accepts connections as seen.
 */
static void
scan_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	for (int i = 0; i < ndatabases; i++)
		databases[i].seen = false;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		ManagedDatabase *md;

		if (!db->datallowconn || db->datistemplate)
			continue;
		md = managed_database(db->oid);
		if (md != NULL)
			md->seen = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

static bool
manager_running(ManagedDatabase *md)
{
	pid_t		pid;

	if (md->handle == NULL)
		return false;
	return GetBackgroundWorkerPid(md->handle, &pid) != BGWH_STOPPED;
}

static bool
database_has_group(Oid dboid)
{
	bool		found;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	found = mmr_slot_find(MMR_WORKER_MANAGER, dboid, 0) != NULL;
	LWLockRelease(MmrShmem->lock);
	return found;
}

/*
 * mmr_start_worker starts a dynamic mmr worker that reports to this process
 * when it stops, replacing *handle.  Out of worker slots is a WARNING: the
 * caller tries again later.
 */
bool
mmr_start_worker(const char *function_name, const char *type, const char *name,
				 Datum main_arg, const void *extra, Size extra_len,
				 BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;

	Assert(extra_len <= BGW_EXTRALEN);
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(bgw.bgw_library_name, "mmr", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, function_name, BGW_MAXLEN);
	strlcpy(bgw.bgw_name, name, BGW_MAXLEN);
	strlcpy(bgw.bgw_type, type, BGW_MAXLEN);
	bgw.bgw_main_arg = main_arg;
	if (extra_len > 0)
		memcpy(bgw.bgw_extra, extra, extra_len);
	bgw.bgw_notify_pid = MyProcPid;

	if (*handle != NULL)
		pfree(*handle);
	*handle = NULL;
	if (RegisterDynamicBackgroundWorker(&bgw, handle))
		return true;
	ereport(WARNING,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("out of background worker slots"),
			 errhint("You might need to increase max_worker_processes.")));
	return false;
}

static void
start_manager(ManagedDatabase *md)
{
	char		name[BGW_MAXLEN];

	snprintf(name, BGW_MAXLEN, "mmr manager for database %u", md->dboid);
	(void) mmr_start_worker("mmr_manager_main", "mmr manager", name,
							ObjectIdGetDatum(md->dboid), NULL, 0, &md->handle);
}

/*
 * supervise starts the managers that should run; returns how long to sleep.
 */
static long
supervise(bool rescan_all)
{
	TimestampTz now = GetCurrentTimestamp();
	long		sleep_ms = 10000;

	scan_databases();
	for (int i = 0; i < ndatabases; i++)
	{
		ManagedDatabase *md = &databases[i];

		if (!md->seen || manager_running(md))
			continue;

		if (rescan_all)
		{
			/* A group may have appeared: look now, no backoff. */
			md->next_start = 0;
			md->backoff_ms = MMR_RESTART_MIN_MS;
		}
		else if (md->handle == NULL || !database_has_group(md->dboid))
			continue;			/* never started, or exited: no group */
		else if (md->next_start == 0)
		{
			/* The manager of a group's database stopped: back off. */
			md->next_start = TimestampTzPlusMilliseconds(now, md->backoff_ms);
			md->backoff_ms = Min(md->backoff_ms * 2, MMR_RESTART_MAX_MS);
		}

		if (md->next_start <= now)
		{
			md->next_start = 0;
			start_manager(md);
		}
		else
			sleep_ms = Min(sleep_ms,
						   TimestampDifferenceMilliseconds(now, md->next_start));
	}
	return sleep_ms;
}

void
mmr_supervisor_main(Datum main_arg)
{
	uint32		seen_changes;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	MmrShmem->supervisor_pid = MyProcPid;
	MmrShmem->supervisor_latch = &MyProc->procLatch;
	seen_changes = pg_atomic_read_u32(&MmrShmem->group_change_count);

	ereport(LOG, (errmsg("mmr supervisor started")));
	supervise(true);

	for (;;)
	{
		uint32		changes;
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		changes = pg_atomic_read_u32(&MmrShmem->group_change_count);
		sleep_ms = supervise(changes != seen_changes);
		seen_changes = changes;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
