/*-------------------------------------------------------------------------
 *
 * truncate.h
 *	  TRUNCATE that converges (docs/conflicts.md, "TRUNCATE"): the table
 *	  tombstones of mmr.truncate_tombstone (truncate_tombstone.c) and the
 *	  apply of a remote TRUNCATE (truncate_apply.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_TRUNCATE_H
#define MMR_TRUNCATE_H

#include "apply_relmap.h"
#include "mmr_core.h"

/* truncate_tombstone.c */

/*
 * Finds relid's truncate tombstone with the latest snapshot and fills
 * *xmin, the transaction that wrote it (its version: mmr_version_from_xid).
 */
extern bool mmr_truncate_tombstone_find(Oid relid, TransactionId *xmin);

/* Does any table have a truncate tombstone (also one being written)? */
extern bool mmr_truncate_tombstone_any(void);

/* Stores or replaces relid's truncate tombstone in this transaction. */
extern void mmr_truncate_tombstone_record(Oid relid);

/* Creates the AFTER TRUNCATE trigger on relid (tombstone_trigger.c's install). */
extern void mmr_truncate_trigger_install(Oid relid);

/* Removes the collectable truncate tombstones (the manager); how many. */
extern int64 mmr_truncate_tombstone_collect(int32 local_node,
											 const MmrPeerHorizon *peers, int npeers);

/* truncate_apply.c */

/* How a remote TRUNCATE treats one table's rows. */
typedef enum MmrTruncateVerdict
{
	MMR_TRUNCATE_SILENT,		/* it had seen every row: truncate */
	MMR_TRUNCATE_LOGGED,		/* every row loses, some were concurrent: log
								 * them, then truncate */
	MMR_TRUNCATE_KEEPS			/* some row wins (or stops apply): delete only
								 * the rows that lose */
} MmrTruncateVerdict;

extern MmrTruncateVerdict mmr_truncate_check(MmrApplyRelation *rel);
extern void mmr_truncate_rows(MmrApplyRelation *rel, bool delete_losers);
extern void mmr_truncate_note_applied(MmrApplyRelation *rel);

/*
 * A remote INSERT or UPDATE whose row is missing: the table's truncate
 * tombstone becomes f's tombstone when it keeps the change out (called
 * where apply_conflict.c looks up the key's tombstone).
 */
extern void mmr_truncate_tombstone_meet(MmrApplyRelation *rel,
										MmrConflictFacts *f);

#endif							/* MMR_TRUNCATE_H */
