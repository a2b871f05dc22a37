/*-------------------------------------------------------------------------
 *
 * conflict_log.h
 *	  The rows of mmr.conflict_history (conflict_log.c), for the apply
 *	  worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_CONFLICT_LOG_H
#define MMR_CONFLICT_LOG_H

#include "executor/tuptable.h"

#include "apply_relmap.h"
#include "mmr_core.h"

typedef struct MmrConflictLogRow MmrConflictLogRow;

extern MmrConflictLogRow *mmr_conflict_log_row(MmrApplyRelation *rel,
											   const MmrConflictDecision *d,
											   const MmrVersion *local,
											   const MmrVersion *remote,
											   TupleTableSlot *keyslot,
											   const AttrNumber *keyattrs,
											   int nkeyattrs,
											   TupleTableSlot *local_row,
											   TupleTableSlot *remote_row,
											   TupleTableSlot *resolved_row);
extern void mmr_conflict_log_write(const MmrConflictLogRow *row);
extern void mmr_conflict_log_set_error(const MmrConflictLogRow *row);
extern void mmr_conflict_log_clear_error(void);
extern void mmr_conflict_log_error_path(void);

#endif							/* MMR_CONFLICT_LOG_H */
