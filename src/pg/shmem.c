/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  mmr's shared memory: allocation at postmaster start, and the worker
 *	  slots that managers, apply workers and the views share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"

#include "shmem.h"

MmrShmemData *MmrShmem = NULL;

/*
 * mmr_shmem_request reserves the space and the lock (shmem_request_hook).
 */
void
mmr_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(MmrShmemData)));
	RequestNamedLWLockTranche("mmr", 1);
}

/*
 * mmr_shmem_startup attaches to (and on first call initializes) the area.
 */
void
mmr_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	MmrShmem = ShmemInitStruct("mmr", sizeof(MmrShmemData), &found);
	if (!found)
	{
		memset(MmrShmem, 0, sizeof(MmrShmemData));
		MmrShmem->lock = &(GetNamedLWLockTranche("mmr"))->lock;
		pg_atomic_init_u32(&MmrShmem->group_change_count, 0);
		pg_atomic_init_u64(&MmrShmem->tombstone_writes, 0);
		pg_atomic_init_u64(&MmrShmem->truncate_tombstone_writes, 0);
		ConditionVariableInit(&MmrShmem->join_done_cv);	/* mmr join */
		for (int i = 0; i < MMR_MAX_WORKERS; i++)
			SpinLockInit(&MmrShmem->workers[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * mmr_slot_find returns the slot of a worker, or NULL.  Caller holds
 * MmrShmem->lock (shared is enough).
 */
MmrWorkerSlot *
mmr_slot_find(MmrWorkerKind kind, Oid dboid, int32 peer_node_id)
{
	for (int i = 0; i < MMR_MAX_WORKERS; i++)
	{
		MmrWorkerSlot *slot = &MmrShmem->workers[i];

		if (slot->kind == kind && slot->dboid == dboid &&
			(kind != MMR_WORKER_APPLY || slot->peer_node_id == peer_node_id))
			return slot;
	}
	return NULL;
}

/*
 * mmr_slot_pid returns the process running in a worker's slot, or 0.
 */
pid_t
mmr_slot_pid(MmrWorkerKind kind, Oid dboid, int32 peer_node_id)
{
	MmrWorkerSlot *slot;
	pid_t		pid = 0;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	slot = mmr_slot_find(kind, dboid, peer_node_id);
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		pid = slot->pid;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(MmrShmem->lock);
	return pid;
}

/*
 * mmr_slot_acquire returns the existing slot of a worker, or a fresh one.
 * Errors out when all slots are taken.
 */
MmrWorkerSlot *
mmr_slot_acquire(MmrWorkerKind kind, Oid dboid, int32 peer_node_id,
				 const char *peer_name)
{
	MmrWorkerSlot *slot;

	LWLockAcquire(MmrShmem->lock, LW_EXCLUSIVE);
	slot = mmr_slot_find(kind, dboid, peer_node_id);
	if (slot == NULL)
	{
		for (int i = 0; i < MMR_MAX_WORKERS && slot == NULL; i++)
			if (MmrShmem->workers[i].kind == MMR_WORKER_FREE)
				slot = &MmrShmem->workers[i];
		if (slot == NULL)
		{
			LWLockRelease(MmrShmem->lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("out of mmr worker slots"),
					 errdetail("mmr runs at most %d managers and apply workers per server.",
							   MMR_MAX_WORKERS)));
		}
		SpinLockAcquire(&slot->mutex);
		slot->kind = kind;
		slot->dboid = dboid;
		slot->peer_node_id = peer_node_id;
		strlcpy(slot->peer_name, peer_name ? peer_name : "", NAMEDATALEN);
		slot->pid = 0;
		slot->latch = NULL;
		slot->no_group = false;
		slot->apply_paused = false;
		memset(slot->paused_peers, 0, sizeof(slot->paused_peers));
		slot->apply_hold_pid = 0;
		slot->parting = false;
		slot->state = MMR_APPLY_CONNECTING;
		slot->received_lsn = InvalidXLogRecPtr;
		slot->applied_lsn = InvalidXLogRecPtr;
		slot->sender_wal_end = InvalidXLogRecPtr;
		slot->last_applied_commit_time = 0;
		slot->last_received_at = 0;
		slot->applied_transactions = 0;
		slot->applied_changes = 0;
		slot->conflicts = 0;
		slot->last_error[0] = '\0';
		slot->last_error_at = 0;
		slot->max_applied_commit_time = 0;
		slot->peer_horizon_n = 0;
		slot->peer_horizon_at = 0;
		slot->clock_skew_events = 0;
		slot->error_logged_lsn = InvalidXLogRecPtr;
		slot->error_logged_change = 0;
		slot->join_phase[0] = '\0';
		slot->tables_total = 0;
		slot->tables_done = 0;
		slot->bytes_copied = 0;
		slot->join_stamps_written = 0;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(MmrShmem->lock);
	return slot;
}

/*
 * mmr_slot_release frees a slot whose worker is gone for good.
 */
void
mmr_slot_release(MmrWorkerSlot *slot)
{
	LWLockAcquire(MmrShmem->lock, LW_EXCLUSIVE);
	slot->kind = MMR_WORKER_FREE;
	slot->dboid = InvalidOid;
	slot->peer_node_id = 0;
	LWLockRelease(MmrShmem->lock);
}

static void
slot_detach_callback(int code, Datum arg)
{
	mmr_slot_detach((MmrWorkerSlot *) DatumGetPointer(arg));
}

/*
 * mmr_slot_attach records the calling process in its slot; the slot is left
 * again at process exit, however it exits.
 */
void
mmr_slot_attach(MmrWorkerSlot *slot)
{
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->latch = &MyProc->procLatch;
	SpinLockRelease(&slot->mutex);
	before_shmem_exit(slot_detach_callback, PointerGetDatum(slot));
}

void
mmr_slot_detach(MmrWorkerSlot *slot)
{
	SpinLockAcquire(&slot->mutex);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
		if (slot->state != MMR_APPLY_ERROR)
			slot->state = MMR_APPLY_STOPPED;
	}
	SpinLockRelease(&slot->mutex);
}

void
mmr_slot_set_state(MmrWorkerSlot *slot, MmrApplyState state)
{
	bool		now_streaming;

	SpinLockAcquire(&slot->mutex);
	now_streaming = state == MMR_APPLY_STREAMING && slot->state != state;
	slot->state = state;
	SpinLockRelease(&slot->mutex);

	/* mmr join: a joining node's join worker waits for every stream. */
	if (now_streaming)
		mmr_wake_database(slot->dboid);
}

/*
 * mmr_slot_set_error records an apply failure for mmr.replication_status.
 */
void
mmr_slot_set_error(MmrWorkerSlot *slot, const char *message)
{
	SpinLockAcquire(&slot->mutex);
	slot->state = MMR_APPLY_ERROR;
	strlcpy(slot->last_error, message, MMR_LAST_ERROR_SIZE);
	slot->last_error_at = GetCurrentTimestamp();
	SpinLockRelease(&slot->mutex);
}

/* A node id's bit in paused_peers: word id / 64, this mask. */
static inline uint64
peer_pause_mask(int32 peer_node_id)
{
	return UINT64CONST(1) << (peer_node_id % 64);
}

static bool
peer_pause_bit(const MmrWorkerSlot *manager, int32 peer_node_id)
{
	if (peer_node_id < 1 || peer_node_id > MMR_MAX_NODE_ID)
		return false;
	return (manager->paused_peers[peer_node_id / 64] & peer_pause_mask(peer_node_id)) != 0;
}

/*
 * mmr_apply_paused tells whether the apply worker of a peer must hold:
 * mmr.apply_pause() is in effect for the database, or for that peer
 * (mmr.apply_pause(peer_name)), or a joining node's session holds apply
 * (mmr.join_hold_apply, released when that session ends).  All live in the
 * manager slot, which outlives the apply workers and the manager process.
 */
bool
mmr_apply_paused(Oid dboid, int32 peer_node_id)
{
	MmrWorkerSlot *manager;
	bool		paused = false;
	pid_t		hold_pid = 0;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	manager = mmr_slot_find(MMR_WORKER_MANAGER, dboid, 0);
	if (manager != NULL)
	{
		SpinLockAcquire(&manager->mutex);
		paused = manager->apply_paused || peer_pause_bit(manager, peer_node_id);
		hold_pid = manager->apply_hold_pid;
		SpinLockRelease(&manager->mutex);
	}
	LWLockRelease(MmrShmem->lock);
	if (!paused && hold_pid != 0)
		paused = BackendPidGetProc(hold_pid) != NULL;
	return paused;
}

/*
 * mmr_set_apply_paused pauses or resumes one peer (peer_node_id 1..1023)
 * or, with peer_node_id 0, every peer: resuming all also clears the pauses
 * of single peers.  The caller wakes the workers.
 */
void
mmr_set_apply_paused(MmrWorkerSlot *manager, int32 peer_node_id, bool paused)
{
	Assert(peer_node_id >= 0 && peer_node_id <= MMR_MAX_NODE_ID);
	SpinLockAcquire(&manager->mutex);
	if (peer_node_id == 0)
	{
		manager->apply_paused = paused;
		if (!paused)
			memset(manager->paused_peers, 0, sizeof(manager->paused_peers));
	}
	else if (paused)
		manager->paused_peers[peer_node_id / 64] |= peer_pause_mask(peer_node_id);
	else
		manager->paused_peers[peer_node_id / 64] &= ~peer_pause_mask(peer_node_id);
	SpinLockRelease(&manager->mutex);
}

/*
 * mmr_note_group_change tells the supervisor that a database may have
 * joined a group, so that it starts that database's manager.
 */
void
mmr_note_group_change(void)
{
	Latch	   *latch = MmrShmem->supervisor_latch;

	pg_atomic_fetch_add_u32(&MmrShmem->group_change_count, 1);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * mmr_wake_database wakes the manager and apply workers of a database, so
 * that they re-read the catalogs and the pause flag now.
 */
void
mmr_wake_database(Oid dboid)
{
	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	for (int i = 0; i < MMR_MAX_WORKERS; i++)
	{
		MmrWorkerSlot *slot = &MmrShmem->workers[i];
		Latch	   *latch;

		if (slot->kind == MMR_WORKER_FREE || slot->dboid != dboid)
			continue;
		SpinLockAcquire(&slot->mutex);
		latch = slot->latch;
		SpinLockRelease(&slot->mutex);
		if (latch != NULL)
			SetLatch(latch);
	}
	LWLockRelease(MmrShmem->lock);
}

/*
 * mmr_local_horizon fills out[] with this node's applied horizon in dboid:
 * for each peer with an apply slot, the latest commit time of the peer
 * applied here.  Peers nothing was applied from yet are left out (their
 * versions then count as unseen, which is what they are).
 */
int
mmr_local_horizon(Oid dboid, MmrHorizonEntry *out, int cap)
{
	int			n = 0;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	for (int i = 0; i < MMR_MAX_WORKERS && n < cap; i++)
	{
		MmrWorkerSlot *slot = &MmrShmem->workers[i];
		TimestampTz t;

		if (slot->kind != MMR_WORKER_APPLY || slot->dboid != dboid)
			continue;
		SpinLockAcquire(&slot->mutex);
		t = slot->max_applied_commit_time;
		SpinLockRelease(&slot->mutex);
		if (t == 0)
			continue;
		out[n].node_id = slot->peer_node_id;
		out[n].commit_time = t;
		n++;
	}
	LWLockRelease(MmrShmem->lock);
	return n;
}

void
mmr_slot_set_peer_horizon(MmrWorkerSlot *slot, const MmrHorizonEntry *entries,
						  int n)
{
	n = Min(n, MMR_MAX_HORIZON);
	SpinLockAcquire(&slot->mutex);
	memcpy(slot->peer_horizon, entries, sizeof(MmrHorizonEntry) * n);
	slot->peer_horizon_n = n;
	slot->peer_horizon_at = GetCurrentTimestamp();
	SpinLockRelease(&slot->mutex);
}

/*
 * mmr_peer_horizons copies the latest horizon of every peer with an apply
 * slot in dboid into storage (MMR_MAX_HORIZON entries per peer) and
 * describes them in peers[].
 */
int
mmr_peer_horizons(Oid dboid, MmrPeerHorizon *peers, MmrHorizonEntry *storage,
				  int cap)
{
	int			n = 0;

	LWLockAcquire(MmrShmem->lock, LW_SHARED);
	for (int i = 0; i < MMR_MAX_WORKERS && n < cap; i++)
	{
		MmrWorkerSlot *slot = &MmrShmem->workers[i];
		MmrHorizonEntry *entries = &storage[n * MMR_MAX_HORIZON];

		if (slot->kind != MMR_WORKER_APPLY || slot->dboid != dboid)
			continue;
		SpinLockAcquire(&slot->mutex);
		memcpy(entries, slot->peer_horizon,
			   sizeof(MmrHorizonEntry) * slot->peer_horizon_n);
		peers[n].nentries = slot->peer_horizon_n;
		SpinLockRelease(&slot->mutex);
		peers[n].peer_node = slot->peer_node_id;
		peers[n].entries = entries;
		n++;
	}
	LWLockRelease(MmrShmem->lock);
	return n;
}

/*
 * mmr_note_tombstone_write counts a tombstone inserted by this backend; it
 * must come after the insert, so that a reader that sees the old count and
 * then finds no tombstone (with a dirty snapshot) missed none.
 */
void
mmr_note_tombstone_write(void)
{
	pg_atomic_fetch_add_u64(&MmrShmem->tombstone_writes, 1);
}

uint64
mmr_tombstone_writes(void)
{
	pg_memory_barrier();
	return pg_atomic_read_u64(&MmrShmem->tombstone_writes);
}

const char *
mmr_apply_state_name(MmrApplyState state)
{
	switch (state)
	{
		case MMR_APPLY_CONNECTING:
			return "connecting";
		case MMR_APPLY_CATCHING_UP:
			return "catching_up";
		case MMR_APPLY_STREAMING:
			return "streaming";
		case MMR_APPLY_PAUSED:
			return "paused";
		case MMR_APPLY_ERROR:
			return "error";
		case MMR_APPLY_STOPPED:
			return "stopped";
	}
	return "unknown";
}
