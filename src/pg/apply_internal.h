/*-------------------------------------------------------------------------
 *
 * apply_internal.h
 *	  Declarations shared by the files of the apply worker: the stream loop
 *	  (apply_worker.c), dispatch and transaction framing (apply_handlers.c),
 *	  locate and act (apply_exec.c), gather, decide and carry out
 *	  (apply_conflict.c), the conflict log (conflict_log.c), the relation
 *	  map (apply_relmap.c) and the flush tracking (apply_progress.c).
 *	  Nothing outside the apply worker includes this.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_APPLY_INTERNAL_H
#define MMR_APPLY_INTERNAL_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "replication/origin.h"
#include "storage/lockdefs.h"
#include "utils/palloc.h"

#include "apply_relmap.h"
#include "mmr_core.h"
#include "shmem.h"

/*
 * What the worker is doing right now, for the error context callback
 * (apply_worker.c).  The handlers set and clear the fields; the strings
 * point to memory that outlives the message being applied.
 */
typedef struct MmrApplyErrorContext
{
	const char *peer_name;
	const char *message_type;	/* NULL between messages */
	const char *nspname;		/* target table, or NULL */
	const char *relname;
	const char *column;			/* column being converted, or NULL */
	TransactionId remote_xid;	/* InvalidTransactionId outside a remote
								 * transaction */
	XLogRecPtr	final_lsn;		/* commit LSN of the remote transaction */
} MmrApplyErrorContext;

/* Tables named in the conflict log row of a skipped transaction. */
#define MMR_SKIP_MAX_RELATIONS 5

/* The remote transaction being applied (apply_handlers.c). */
typedef struct MmrRemoteXact
{
	bool		active;			/* between BEGIN and COMMIT */
	uint64		seq;			/* counts remote transactions of the worker */
	TransactionId xid;
	XLogRecPtr	final_lsn;
	TimestampTz commit_time;
	uint64		nchanges;		/* changes applied so far */
	uint64		nconflicts;		/* counted in the slot at commit */
	bool		changed_node_catalog;	/* mmr.node: wake the manager */
	int			nhorizon;		/* the sender's horizon for the next change;
								 * 0: unknown */
	MmrHorizonEntry horizon[MMR_MAX_HORIZON];

	/* mmr.skip_transaction asked to skip it (skip_transaction.c) */
	bool		skipping;
	uint64		nskipped;		/* changes not applied */
	int			nskipped_relations;	/* the first tables they were for */
	char		skipped_relations[MMR_SKIP_MAX_RELATIONS][2 * NAMEDATALEN + 1];
	bool		more_skipped_relations;
} MmrRemoteXact;

/* Executor state of one change of one table (apply_exec.c). */
typedef struct MmrApplyExec
{
	MmrApplyRelation *rel;
	EState	   *estate;
	ResultRelInfo *relinfo;

	/*
	 * Unchanged TOAST values (apply_exec.c): the new row whose columns left
	 * unchanged by a remote UPDATE hold local values (base_values) or none
	 * yet, until mmr_exec_complete_row; NULL when it has the sender's.
	 */
	TupleTableSlot *unchanged_row;
	bool		base_values;
} MmrApplyExec;

/*
 * Local rows that hold a unique value of a remote new row.  Arrays indexed
 * like rel->unique; a row holding several values is one slot.
 */
typedef struct MmrUniqueHits
{
	TupleTableSlot *target;		/* the row with the same lookup key, or NULL */
	bool	   *has_value;		/* the new row has a value in the index (not
								 * NULL, inside a partial index's predicate) */
	TupleTableSlot **holder;	/* the row holding it (the change's own row,
								 * or another, locked), NULL: none */
} MmrUniqueHits;

/* apply_worker.c */
extern MmrApplyErrorContext mmr_apply_errctx;
extern MmrWorkerSlot *mmr_apply_slot;
extern MemoryContext mmr_apply_message_context;

extern void mmr_apply_send_status(void);

/* apply_handlers.c */
extern MmrRemoteXact mmr_remote_xact;
extern void mmr_apply_handle_message(const MmrMessage *msg);
extern bool mmr_apply_in_remote_xact(void);
extern MmrApplyRelation *mmr_apply_open_target(uint32 remote_relid,
											   LOCKMODE lockmode);
extern void mmr_apply_run_as(Oid owner);

/* apply_exec.c */
extern MmrApplyExec *mmr_exec_begin(MmrApplyRelation *rel);
extern void mmr_exec_end(MmrApplyExec *ex);
extern void mmr_exec_check_shape(MmrApplyRelation *rel, const MmrTuple *tuple);
extern TupleTableSlot *mmr_exec_new_row(MmrApplyExec *ex, MmrChangeKind kind,
										const MmrChange *change,
										TupleTableSlot *base);
extern bool mmr_exec_find_row(MmrApplyExec *ex, const MmrChange *change,
							  const char *action,
							  TupleTableSlot **searchslot_out,
							  TupleTableSlot **localslot_out);
extern void mmr_exec_find_unique(MmrApplyExec *ex, TupleTableSlot *newrow,
								 TupleTableSlot *target, MmrUniqueHits *hits);
extern TupleTableSlot *mmr_exec_extra_slot(MmrApplyExec *ex);
extern void mmr_exec_insert(MmrApplyExec *ex, TupleTableSlot *slot);
extern bool mmr_exec_insert_new(MmrApplyExec *ex, TupleTableSlot *slot);
extern void mmr_exec_update(MmrApplyExec *ex, TupleTableSlot *localslot,
							TupleTableSlot *newslot);
extern void mmr_exec_delete(MmrApplyExec *ex, TupleTableSlot *localslot);
extern void mmr_exec_truncate(const MmrTruncate *truncate);

/* Unchanged TOAST values: apply_exec.c, and the fetch (apply_fetch.c) */
extern void mmr_exec_complete_row(MmrApplyExec *ex, const MmrChange *change,
								  TupleTableSlot *newrow,
								  const MmrConflictFacts *facts,
								  MmrConflictDecision *decision);
extern bool mmr_fetch_unchanged(MmrApplyRelation *rel, const MmrChange *change,
								const bool *want, MmrValue *out);

/* apply_conflict.c */
extern void mmr_apply_row_change(MmrApplyRelation *rel, MmrChangeKind kind,
								 const MmrChange *change);
extern void mmr_conflict_note_commit(TransactionId local_xid);

/* skip_transaction.c */
extern void mmr_skip_init(int32 peer_node_id);
extern bool mmr_skip_matches(XLogRecPtr final_lsn);
extern bool mmr_skip_pending(void);
extern void mmr_skip_commit(const MmrRemoteXact *xact, const MmrCommit *commit);

/* apply_progress.c */
extern void mmr_progress_init(XLogRecPtr start_lsn);
extern void mmr_progress_note_commit(XLogRecPtr remote_end,
									 XLogRecPtr local_end);
extern bool mmr_progress_get(XLogRecPtr *applied, XLogRecPtr *flushed);
extern TimestampTz mmr_progress_last_commit_time(RepOriginId originid);

#endif							/* MMR_APPLY_INTERNAL_H */
