/*-------------------------------------------------------------------------
 *
 * manager.c
 *	  The per-database manager: keeps one apply worker running for every
 *	  peer of this node, restarting them with backoff.
 *
 * NOTES
 *	  The manager reads the group from mmr.node whenever its latch is set
 *	  (an apply worker applied a change to mmr.node, a function changed the
 *	  group, a worker exited) and every few seconds otherwise.  A peer whose
 *	  status is 'parted' gets no worker; its slot is released.
 *
 *	  An apply worker that exits is restarted after a backoff that doubles
 *	  from 1 s to 60 s, and returns to 1 s once a worker has run a minute.
 *
 *	  Between those, the manager does the database's periodic work: a
 *	  heartbeat with this node's applied horizon (so that idle nodes do not
 *	  pin their peers' tombstones), tombstone collection, and the purge of
 *	  conflict log rows older than mmr.conflict_log_retention.
 *
 *	  While this node joins with a data copy (mmr.join_state), the manager
 *	  runs the join worker, and apply workers only once the copy is done:
 *	  the copy sets where each stream starts.  Peers that are still joining
 *	  get no apply worker: their slots for us may not exist yet, and they
 *	  write nothing of their own before they are ready.
 *
 *	  A database whose recorded identity is not its own (a restored dump or
 *	  a file copy of a member) gets no workers at all: the reason goes into
 *	  every peer's slot, so mmr.replication_status shows it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "apply.h"
#include "horizon_emit.h"
#include "join.h"
#include "mmr.h"
#include "node_cache.h"
#include "shmem.h"
#include "supervisor.h"
#include "tombstone.h"
#include "truncate.h"

#define MANAGER_NAP_MS 5000
#define HEARTBEAT_MS 2000
#define TOMBSTONE_COLLECT_MS 10000
#define CONFLICT_LOG_PURGE_MS 60000
#define MAX_PEERS 64
#define ORPHAN_RECHECK_MS 200

typedef struct Peer
{
	int32		node_id;
	char		name[NAMEDATALEN];
	bool		parted;
} Peer;

/* What the manager remembers about each apply worker it runs. */
typedef struct ApplyWorker
{
	int32		peer_node_id;
	BackgroundWorkerHandle *handle;
	MmrWorkerSlot *slot;
	TimestampTz started_at;
	TimestampTz next_start;
	int			backoff_ms;
	bool		wanted;
	bool		cleaned;		/* parted peer's slot and origin dropped */
} ApplyWorker;

static ApplyWorker workers[MAX_PEERS];
static int	nworkers = 0;

/* Why this database may not act as its node, or empty. */
static char identity_problem[MMR_LAST_ERROR_SIZE];

/* The join worker, while this node joins with a data copy. */
static ApplyWorker join_worker;

/* What the latest join allows: which workers to run. */
typedef enum JoinGate
{
	JOIN_GATE_NONE,				/* no join with a copy: apply only */
	JOIN_GATE_COPYING,			/* join worker only */
	JOIN_GATE_CATCHING_UP,		/* join worker and apply */
	JOIN_GATE_FAILED			/* nothing until the node is parted */
} JoinGate;

static JoinGate
read_join_gate(void)
{
	char	   *phase;
	bool		stamps_kept;
	bool		isnull;

	if (SPI_execute("SELECT phase, stamps_lsn IS NOT NULL, join_id FROM mmr.join_state "
					"ORDER BY join_id DESC LIMIT 1",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.join_state");
	if (SPI_processed == 0)
		return JOIN_GATE_NONE;
	phase = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	stamps_kept = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (strncmp(phase, "copying", 7) == 0)
		return JOIN_GATE_COPYING;
	if (strcmp(phase, "failed") == 0)
		return JOIN_GATE_FAILED;

	/*
	 * The copy's commit facts are not in a checkpoint yet: after a crash the
	 * join worker writes them again before any apply (docs/join.md).
	 */
	if (stamps_kept &&
		!mmr_join_stamps_written(MyDatabaseId,
								 DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 3, &isnull))))
		return JOIN_GATE_COPYING;
	if (strcmp(phase, "catching_up") == 0 || stamps_kept)
		return JOIN_GATE_CATCHING_UP;
	return JOIN_GATE_NONE;
}

/*
 * read_group fills peers from mmr.node; returns false when this database
 * is not (or no longer) an active member of a group.  A node whose own
 * status is 'parted' has no peers.
 */
static bool
read_group(Peer *peers, int *npeers, JoinGate *gate)
{
	bool		member;
	int			ret;

	*npeers = 0;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	/* After DROP EXTENSION mmr, nothing is left to manage. */
	ret = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'mmr'",
					  true, 1);
	member = ret == SPI_OK_SELECT && SPI_processed > 0;
	if (member)
	{
		ret = SPI_execute("SELECT 1 FROM mmr.local_node l WHERE NOT EXISTS "
						  "(SELECT 1 FROM mmr.node me "
						  " WHERE me.node_id = l.node_id AND me.status = 'parted')",
						  true, 1);
		member = ret == SPI_OK_SELECT && SPI_processed > 0;
	}

	*gate = member ? read_join_gate() : JOIN_GATE_NONE;
	identity_problem[0] = '\0';
	if (member)
	{
		char	   *why = mmr_identity_mismatch();

		if (why != NULL)
			strlcpy(identity_problem, why, sizeof(identity_problem));
	}
	if (member)
		ret = SPI_execute("SELECT n.node_id, n.node_name, n.status = 'parted' "
						  "FROM mmr.node n, mmr.local_node l "
						  "WHERE n.node_id <> l.node_id AND n.status <> 'joining' "
						  "ORDER BY n.node_id",
						  true, MAX_PEERS);
	for (uint64 i = 0; member && ret == SPI_OK_SELECT && i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Peer	   *p = &peers[(*npeers)++];

		p->node_id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		strlcpy(p->name, SPI_getvalue(tup, desc, 2), NAMEDATALEN);
		p->parted = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	}

	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_stat(true);
	return member;
}

static ApplyWorker *
apply_worker_for(int32 peer_node_id)
{
	for (int i = 0; i < nworkers; i++)
		if (workers[i].peer_node_id == peer_node_id)
			return &workers[i];
	if (nworkers == MAX_PEERS)
		return NULL;
	memset(&workers[nworkers], 0, sizeof(ApplyWorker));
	workers[nworkers].peer_node_id = peer_node_id;
	workers[nworkers].backoff_ms = MMR_RESTART_MIN_MS;
	return &workers[nworkers++];
}

static bool
apply_worker_running(ApplyWorker *w)
{
	pid_t		pid;

	return w->handle != NULL &&
		GetBackgroundWorkerPid(w->handle, &pid) != BGWH_STOPPED;
}

/*
 * stopped_orphan stops a worker that a previous manager of this database
 * started and left running (that manager was terminated, and workers do not
 * end with it): a second worker for the same slot would find the peer's
 * replication origin busy and fail for ever.  Returns true when there was
 * one; the caller starts its own worker once the orphan is gone.
 */
static bool
stopped_orphan(MmrWorkerKind kind, int32 peer_node_id, const char *what)
{
	pid_t		pid = mmr_slot_pid(kind, MyDatabaseId, peer_node_id);

	if (pid == 0)
		return false;
	ereport(LOG,
			(errmsg("stopping the mmr %s left running by a previous manager (pid %d)",
					what, (int) pid)));
	(void) kill(pid, SIGTERM);
	return true;
}

static void
start_apply_worker(ApplyWorker *w, const Peer *peer)
{
	char		name[BGW_MAXLEN];
	MmrApplyWorkerArgs args = {MyDatabaseId, peer->node_id};

	w->slot = mmr_slot_acquire(MMR_WORKER_APPLY, MyDatabaseId, peer->node_id,
							   peer->name);
	if (w->slot->parting)
		return;

	snprintf(name, BGW_MAXLEN, "mmr apply from \"%s\"", peer->name);
	if (!mmr_start_worker("mmr_apply_worker_main", "mmr apply", name, (Datum) 0,
						  &args, sizeof(args), &w->handle))
		return;
	w->started_at = GetCurrentTimestamp();
}

/*
 * stop_apply_worker stops a parted peer's worker and frees its slot.
 */
static void
stop_apply_worker(ApplyWorker *w)
{
	if (w->handle != NULL)
	{
		TerminateBackgroundWorker(w->handle);
		(void) WaitForBackgroundWorkerShutdown(w->handle);
		pfree(w->handle);
		w->handle = NULL;
	}
	if (w->slot != NULL)
		mmr_slot_release(w->slot);
	w->slot = NULL;
}

/*
 * drop_parted_peer stops a parted peer's worker and drops its slot and
 * origin here, once per manager run (it is idempotent).
 */
static void
drop_parted_peer(ApplyWorker *w)
{
	stop_apply_worker(w);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	mmr_drop_peer_objects(w->peer_node_id);
	CommitTransactionCommand();
	w->cleaned = true;
}

/*
 * restart_due tells whether a stopped worker may start now, after its
 * backoff; sets *nap_ms to the wait otherwise.
 */
static bool
restart_due(ApplyWorker *w, const char *what, TimestampTz now, long *nap_ms)
{
	if (w->handle != NULL && w->next_start == 0)
	{
		/* It stopped: back off before the next start. */
		if (TimestampDifferenceExceeds(w->started_at, now, 60000))
			w->backoff_ms = MMR_RESTART_MIN_MS;
		w->next_start = TimestampTzPlusMilliseconds(now, w->backoff_ms);
		w->backoff_ms = Min(w->backoff_ms * 2, MMR_RESTART_MAX_MS);
		ereport(LOG,
				(errmsg("mmr %s stopped, restarting in %d ms", what,
						(int) TimestampDifferenceMilliseconds(now, w->next_start))));
	}
	if (w->next_start <= now)
	{
		w->next_start = 0;
		return true;
	}
	*nap_ms = Min(*nap_ms, TimestampDifferenceMilliseconds(now, w->next_start));
	return false;
}

/*
 * manage_join runs the join worker while the join needs one.
 */
static void
manage_join(JoinGate gate, TimestampTz now, long *nap_ms)
{
	ApplyWorker *w = &join_worker;

	if (gate != JOIN_GATE_COPYING && gate != JOIN_GATE_CATCHING_UP)
	{
		if (w->handle != NULL && !apply_worker_running(w))
		{
			pfree(w->handle);
			w->handle = NULL;
		}
		return;
	}
	if (w->backoff_ms == 0)
		w->backoff_ms = MMR_RESTART_MIN_MS;
	if (apply_worker_running(w) || !restart_due(w, "join worker", now, nap_ms))
		return;
	if (stopped_orphan(MMR_WORKER_JOIN, 0, "join worker"))
	{
		*nap_ms = Min(*nap_ms, ORPHAN_RECHECK_MS);
		return;
	}
	if (mmr_start_worker("mmr_join_worker_main", "mmr join", "mmr join worker",
						 ObjectIdGetDatum(MyDatabaseId), NULL, 0, &w->handle))
		w->started_at = now;
}

/*
 * manage starts, restarts and stops apply workers; returns the nap time.
 */
static long
manage(const Peer *peers, int npeers, JoinGate gate)
{
	TimestampTz now = GetCurrentTimestamp();
	long		nap_ms = MANAGER_NAP_MS;
	char		what[NAMEDATALEN + 32];

	manage_join(gate, now, &nap_ms);
	if (gate == JOIN_GATE_COPYING || gate == JOIN_GATE_FAILED)
		npeers = 0;

	for (int i = 0; i < nworkers; i++)
		workers[i].wanted = false;

	for (int i = 0; i < npeers; i++)
	{
		ApplyWorker *w = apply_worker_for(peers[i].node_id);

		if (w == NULL)
			continue;
		if (peers[i].parted)
		{
			if (!w->cleaned)
				drop_parted_peer(w);
			continue;
		}
		w->wanted = true;
		if (apply_worker_running(w))
			continue;
		snprintf(what, sizeof(what), "apply worker for peer \"%s\"", peers[i].name);
		if (!restart_due(w, what, now, &nap_ms))
			continue;
		if (stopped_orphan(MMR_WORKER_APPLY, peers[i].node_id, what))
			nap_ms = Min(nap_ms, ORPHAN_RECHECK_MS);
		else
			start_apply_worker(w, &peers[i]);
	}

	for (int i = 0; i < nworkers; i++)
		if (!workers[i].wanted && (workers[i].handle != NULL || workers[i].slot != NULL))
			stop_apply_worker(&workers[i]);

	return nap_ms;
}

static void
collect_tombstones(void)
{
	static MmrHorizonEntry storage[MMR_MAX_HORIZON * MMR_MAX_HORIZON];
	MmrPeerHorizon peers[MMR_MAX_HORIZON];
	int32		local_node;
	int64		removed = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	local_node = mmr_local_node_id();
	if (local_node != 0)
	{
		/* One reading of the peers' horizons decides every catalog. */
		int			npeers = mmr_peer_horizons(MyDatabaseId, peers, storage,
											   MMR_MAX_HORIZON);

		removed = mmr_tombstone_collect(local_node, peers, npeers);
		/* TRUNCATE's table tombstones, by the same rule (truncate_tombstone.c). */
		removed += mmr_truncate_tombstone_collect(local_node, peers, npeers);
	}
	CommitTransactionCommand();
	if (removed > 0)
		elog(DEBUG1, "mmr collected " INT64_FORMAT " tombstones", removed);
}

/*
 * purge_conflict_log removes conflicts older than the retention ('0' keeps
 * them all).
 */
static void
purge_conflict_log(void)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(mmr_conflict_log_retention)};
	int			ret;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	ret = SPI_execute_with_args("DELETE FROM mmr.conflict_history "
								"WHERE $1::interval > interval '0' "
								"AND logged_at < now() - $1::interval",
								1, types, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not purge mmr.conflict_history: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed > 0)
		elog(DEBUG1, "mmr removed " UINT64_FORMAT " conflict log rows", SPI_processed);
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
}

/*
 * periodic_work does what is due; returns the milliseconds until the next.
 */
static long
periodic_work(void)
{
	static TimestampTz next_heartbeat = 0;
	static TimestampTz next_collect = 0;
	static TimestampTz next_purge = 0;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next;

	if (now >= next_heartbeat)
	{
		mmr_horizon_heartbeat();
		next_heartbeat = TimestampTzPlusMilliseconds(now, HEARTBEAT_MS);
	}
	if (now >= next_collect)
	{
		collect_tombstones();
		next_collect = TimestampTzPlusMilliseconds(now, TOMBSTONE_COLLECT_MS);
	}
	if (now >= next_purge)
	{
		purge_conflict_log();
		next_purge = TimestampTzPlusMilliseconds(now, CONFLICT_LOG_PURGE_MS);
	}
	next = Min(next_heartbeat, Min(next_collect, next_purge));
	return Max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next), 1);
}

/*
 * refuse_to_act stops every worker of a database that is a copy of a node,
 * and shows why in each peer's slot.
 */
static long
refuse_to_act(const Peer *peers, int npeers)
{
	static bool logged = false;

	(void) manage(peers, 0, JOIN_GATE_FAILED);
	for (int i = 0; i < npeers; i++)
	{
		MmrWorkerSlot *slot;

		if (peers[i].parted)
			continue;
		slot = mmr_slot_acquire(MMR_WORKER_APPLY, MyDatabaseId, peers[i].node_id,
								peers[i].name);
		mmr_slot_set_error(slot, identity_problem);
	}
	if (!logged)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mmr starts no apply worker in database %u", MyDatabaseId),
				 errdetail("%s.", identity_problem),
				 errhint("Run mmr.part_node() for the local node here (the peers are not told), then join the group with mmr.group_join().")));
	logged = true;
	return MANAGER_NAP_MS;
}

void
mmr_manager_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MmrWorkerSlot *slot = NULL;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	mmr_horizon_emit_disable();

	for (;;)
	{
		Peer		peers[MAX_PEERS];
		int			npeers;
		JoinGate	gate;
		long		nap_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (!read_group(peers, &npeers, &gate))
		{
			/* No group here (any more): stop everything and go. */
			manage(peers, 0, JOIN_GATE_FAILED);
			if (slot != NULL)
				mmr_slot_release(slot);
			proc_exit(0);
		}
		if (slot == NULL)
		{
			slot = mmr_slot_acquire(MMR_WORKER_MANAGER, dboid, 0, NULL);
			mmr_slot_attach(slot);
			ereport(LOG, (errmsg("mmr manager started for database %u", dboid)));
		}

		if (identity_problem[0] != '\0')
			nap_ms = refuse_to_act(peers, npeers);
		else
			nap_ms = Min(manage(peers, npeers, gate), periodic_work());
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 nap_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
