/*-------------------------------------------------------------------------
 *
 * apply.h
 *	  The apply worker: receives one peer's changes and applies them here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_APPLY_H
#define MMR_APPLY_H

/* Passed in BackgroundWorker.bgw_extra by the manager that starts it. */
typedef struct MmrApplyWorkerArgs
{
	Oid			dboid;
	int32		peer_node_id;
} MmrApplyWorkerArgs;

extern PGDLLEXPORT void mmr_apply_worker_main(Datum main_arg);

#endif							/* MMR_APPLY_H */
