/*-------------------------------------------------------------------------
 *
 * apply_internal.h
 *	  Declarations shared by the files of the apply worker: the stream loop
 *	  (apply_worker.c), the message handlers (apply_handlers.c), the
 *	  relation map (apply_relmap.c) and the flush tracking
 *	  (apply_progress.c).  Nothing outside the apply worker includes this.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_APPLY_INTERNAL_H
#define MMR_APPLY_INTERNAL_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "utils/palloc.h"

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

/* apply_worker.c */
extern MmrApplyErrorContext mmr_apply_errctx;
extern MmrWorkerSlot *mmr_apply_slot;
extern MemoryContext mmr_apply_message_context;

/* apply_handlers.c */
extern void mmr_apply_handle_message(const MmrMessage *msg);
extern bool mmr_apply_in_remote_xact(void);

/* apply_progress.c */
extern void mmr_progress_init(XLogRecPtr start_lsn);
extern void mmr_progress_note_commit(XLogRecPtr remote_end,
									 XLogRecPtr local_end);
extern bool mmr_progress_get(XLogRecPtr *applied, XLogRecPtr *flushed);

#endif							/* MMR_APPLY_INTERNAL_H */
