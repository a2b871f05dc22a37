/*-------------------------------------------------------------------------
 *
 * tombstone.h
 *	  Delete tombstones (tombstone.c): one row of mmr.tombstone per deleted
 *	  key, written in the transaction of the delete, so that its xmin's
 *	  commit_ts gives the delete's origin and commit time (docs/conflicts.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_TOMBSTONE_H
#define MMR_TOMBSTONE_H

#include "executor/tuptable.h"
#include "utils/relcache.h"

#include "mmr_core.h"

/*
 * The text form of the key of the row in slot: the columns of the table's
 * replica identity index (or primary key).  The one function used for
 * local deletes (the trigger) and applied ones, so both find each other.
 * NULL when the table has no such index (no tombstones then).
 */
extern char *mmr_tombstone_key(Relation rel, TupleTableSlot *slot);

/* Finds the key's tombstone and fills *version from its xmin. */
extern bool mmr_tombstone_find(Relation rel, const char *key,
							   MmrVersion *version);

/*
 * Stores the key's tombstone, or replaces the existing one, in the current
 * transaction (its version is then this transaction's: the remote one when
 * applying).
 */
extern void mmr_tombstone_record(Relation rel, const char *key);

/*
 * The same with an explicit version, stored in the tombstone's origin and
 * commit_time (NULL: the current transaction's).  A row deleted because a
 * change claimed one of its unique values gets its own version.
 */
extern void mmr_tombstone_record_version(Relation rel, const char *key,
										 const MmrVersion *version);

/* Does rel have any tombstone (also one being written)? */
extern bool mmr_tombstone_any(Relation rel);

/*
 * Unique value registers (mmr.unique_claim, docs/conflicts.md "Unique
 * keys"): for a value of a secondary unique index, the version of the
 * latest write known to have held it, stored only when no row holds it.
 */

/*
 * rel's secondary unique indexes that keep registers; *indexoids: theirs,
 * a palloc'd copy (a lookup may rebuild the table's cached entry).
 */
extern int	mmr_unique_indexes(Relation rel, Oid **indexoids);

/* The value of the row in slot in that index; NULL: NULL, or no registers. */
extern char *mmr_unique_value(Relation rel, Oid indexoid, TupleTableSlot *slot);

/* Finds value's register. */
extern bool mmr_unique_claim_find(Relation rel, Oid indexoid, const char *value,
								  MmrVersion *version);

/* May rel have a register?  Asked of the catalog once per write count. */
extern bool mmr_unique_claim_may_exist(Relation rel);

/*
 * Stores value's register at version (NULL: the current transaction's),
 * replacing; a version that is collectable already is not stored (and the
 * register there goes).
 */
extern void mmr_unique_claim_record(Relation rel, Oid indexoid,
									const char *value,
									const MmrVersion *version);

/*
 * Stores, at version, the registers of the values the row old holds and now
 * (the row replacing it; NULL: none) does not.
 */
extern void mmr_unique_release(Relation rel, TupleTableSlot *old,
							   TupleTableSlot *now, const MmrVersion *version);

/* The index whose columns make the key; InvalidOid: no tombstones. */
extern Oid	mmr_tombstone_key_index(Relation rel);

/* The role tombstones are written as (the owner of mmr.tombstone). */
extern Oid	mmr_tombstone_owner(void);

/* Removes the collectable tombstones and registers (the manager); returns how many. */
extern int64 mmr_tombstone_collect(int32 local_node, const MmrPeerHorizon *peers,
								   int npeers);

/* tombstone_trigger.c: the local-delete trigger on every replicated table. */
extern void mmr_tombstone_install_all(void);

/*
 * While true, the event trigger installs no tombstone trigger: a join is
 * restoring a member's schema, whose dump creates them itself.
 */
extern bool mmr_tombstone_install_suspended;

#endif							/* MMR_TOMBSTONE_H */
