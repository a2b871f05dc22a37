/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  mmr's shared memory: one slot per manager and per apply worker, read
 *	  by the views (mmr.replication_status) and written by the workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_SHMEM_H
#define MMR_SHMEM_H

#include "access/xlogdefs.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "mmr_core.h"

#define MMR_MAX_WORKERS 64
#define MMR_LAST_ERROR_SIZE 512
#define MMR_MAX_HORIZON 64		/* entries of a horizon: nodes of a group */

/* Per-peer pause (mmr.apply_pause(peer_name)): one bit per node id 1..1023 */
#define MMR_MAX_NODE_ID 1023
#define MMR_PAUSED_PEER_WORDS ((MMR_MAX_NODE_ID + 64) / 64)

typedef enum MmrWorkerKind
{
	MMR_WORKER_FREE = 0,
	MMR_WORKER_MANAGER,			/* one per database in a group */
	MMR_WORKER_APPLY,			/* one per (database, peer) */
	MMR_WORKER_JOIN				/* one per joining database */
} MmrWorkerKind;

/* The states of SPEC section 4, mmr.replication_status.state */
typedef enum MmrApplyState
{
	MMR_APPLY_CONNECTING = 0,
	MMR_APPLY_CATCHING_UP,
	MMR_APPLY_STREAMING,
	MMR_APPLY_PAUSED,
	MMR_APPLY_ERROR,
	MMR_APPLY_STOPPED
} MmrApplyState;

/*
 * A slot outlives the processes that use it: the manager keeps a peer's
 * slot while it restarts the peer's apply worker, so counters and the last
 * error survive the restart.
 *
 * kind, dboid, peer_node_id and peer_name are set under MmrShmem->lock;
 * the rest under the slot's mutex.
 */
typedef struct MmrWorkerSlot
{
	MmrWorkerKind kind;
	Oid			dboid;
	int32		peer_node_id;	/* apply: the peer it receives from */
	char		peer_name[NAMEDATALEN];

	slock_t		mutex;
	pid_t		pid;			/* 0 when no process runs in the slot */
	Latch	   *latch;			/* the running process's latch */
	bool		no_group;		/* manager: the database has no group */
	bool		apply_paused;	/* manager: mmr.apply_pause() in effect */
	/* manager: the peers paused one by one, mmr.apply_pause(peer_name) */
	uint64		paused_peers[MMR_PAUSED_PEER_WORDS];
	pid_t		apply_hold_pid; /* manager: a joining node's session holds
								 * apply while it takes its snapshot */
	bool		parting;		/* apply: mmr.part_node() stops it for good */
	MmrApplyState state;
	XLogRecPtr	received_lsn;	/* end of the last message received */
	XLogRecPtr	applied_lsn;	/* end LSN of the last applied commit */
	XLogRecPtr	sender_wal_end; /* the peer's WAL end, from its messages */
	TimestampTz last_applied_commit_time;	/* origin's commit time */
	TimestampTz last_received_at;	/* local time of the last message */
	uint64		applied_transactions;
	uint64		applied_changes;
	uint64		conflicts;
	char		last_error[MMR_LAST_ERROR_SIZE];
	TimestampTz last_error_at;

	/*
	 * Horizons (docs/conflicts.md).  max_applied_commit_time is this node's
	 * horizon entry for the peer (the latest commit time of the peer applied
	 * here); peer_horizon is the peer's own latest horizon, from its
	 * mmr.horizon messages and heartbeats, for tombstone collection.
	 */
	TimestampTz max_applied_commit_time;
	int32		peer_horizon_n;
	MmrHorizonEntry peer_horizon[MMR_MAX_HORIZON];
	TimestampTz peer_horizon_at;	/* local time it was received */

	uint64		clock_skew_events;	/* remote commits ahead by more than
									 * mmr.max_clock_skew */

	/*
	 * The change whose error resolution was last logged (its remote commit
	 * LSN and position in the transaction), so that apply's retries of the
	 * same failing change log and count it once.
	 */
	XLogRecPtr	error_logged_lsn;
	uint64		error_logged_change;

	/* join: progress of the copy (the committed phase is in mmr.join_state) */
	char		join_phase[NAMEDATALEN];
	int32		tables_total;
	int32		tables_done;
	uint64		bytes_copied;
	int32		join_stamps_written;	/* join whose commit facts were
										 * written since the server started */
} MmrWorkerSlot;

typedef struct MmrShmemData
{
	LWLock	   *lock;			/* protects slot allocation */
	pid_t		supervisor_pid;
	Latch	   *supervisor_latch;
	pg_atomic_uint32 group_change_count;	/* bumped when a group appears */
	MmrWorkerSlot workers[MMR_MAX_WORKERS];

	/*
	 * Bumped after every tombstone insert (tombstone.c): apply remembers per
	 * table that it has no tombstone at a given count, and skips the
	 * tombstone lookup of an INSERT until the count moves.  Also bumped by
	 * the commit of a transaction that removed registers (tombstone.c), so
	 * that "the table has registers" is asked again too.
	 */
	pg_atomic_uint64 tombstone_writes;

	/*
	 * TRUNCATE's table tombstones (truncate_tombstone.c bumps it after
	 * each write, truncate_apply.c reads it): the same shortcut of a missing
	 * row's INSERT or UPDATE, apart from key tombstones so that a DELETE
	 * anywhere does not make it scan mmr.truncate_tombstone.
	 */
	pg_atomic_uint64 truncate_tombstone_writes;

	/* mmr join: broadcast when a join ends (mmr.wait_for_join sleeps on it) */
	ConditionVariable join_done_cv;
} MmrShmemData;

extern MmrShmemData *MmrShmem;

extern void mmr_shmem_request(void);
extern void mmr_shmem_startup(void);

extern MmrWorkerSlot *mmr_slot_find(MmrWorkerKind kind, Oid dboid,
									int32 peer_node_id);
extern pid_t mmr_slot_pid(MmrWorkerKind kind, Oid dboid, int32 peer_node_id);
extern MmrWorkerSlot *mmr_slot_acquire(MmrWorkerKind kind, Oid dboid,
									   int32 peer_node_id,
									   const char *peer_name);
extern void mmr_slot_release(MmrWorkerSlot *slot);
extern void mmr_slot_attach(MmrWorkerSlot *slot);
extern void mmr_slot_detach(MmrWorkerSlot *slot);
extern void mmr_slot_set_state(MmrWorkerSlot *slot, MmrApplyState state);
extern void mmr_slot_set_error(MmrWorkerSlot *slot, const char *message);
extern bool mmr_apply_paused(Oid dboid, int32 peer_node_id);
extern void mmr_set_apply_paused(MmrWorkerSlot *manager, int32 peer_node_id,
								 bool paused);
extern void mmr_note_group_change(void);
extern void mmr_wake_database(Oid dboid);
extern const char *mmr_apply_state_name(MmrApplyState state);
extern void mmr_note_tombstone_write(void);
extern uint64 mmr_tombstone_writes(void);

/*
 * This node's applied horizon in database dboid: one entry per apply slot
 * (peer, max_applied_commit_time), for the horizon messages of local
 * transactions.  Returns the number of entries written (at most cap).
 */
extern int	mmr_local_horizon(Oid dboid, MmrHorizonEntry *out, int cap);

/* Records the peer's latest horizon in its apply slot. */
extern void mmr_slot_set_peer_horizon(MmrWorkerSlot *slot,
									  const MmrHorizonEntry *entries, int n);

/*
 * The latest horizon of every peer with an apply slot in dboid, for
 * tombstone collection: fills peers[] (entries point into storage, which
 * must hold cap * MMR_MAX_HORIZON entries).  Returns the number of peers.
 */
extern int	mmr_peer_horizons(Oid dboid, MmrPeerHorizon *peers,
							  MmrHorizonEntry *storage, int cap);

#endif							/* MMR_SHMEM_H */
