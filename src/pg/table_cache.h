/*-------------------------------------------------------------------------
 *
 * table_cache.h
 *	  A per-backend cache of what a replicated settings catalog (conflict
 *	  resolvers, write partitioning) says about each table (table_cache.c).
 *
 *	  The catalog's rows are read whole (a handful) into a memory context
 *	  of their own; what they mean for one table is built into an entry
 *	  keyed by its oid, which begins with MmrTableCacheEntry.  A relcache
 *	  invalidation of the catalog (its mmr.catalog_changed trigger sends
 *	  one for local and applied changes alike) or of all relations makes
 *	  the rows and every entry stale; one of a table makes its entry stale
 *	  (renamed, columns changed).  So a setting takes effect without any
 *	  restart.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_TABLE_CACHE_H
#define MMR_TABLE_CACHE_H

#include "utils/hsearch.h"

#include "mmr.h"

typedef struct MmrTableCacheEntry
{
	Oid			relid;			/* hash key */
	bool		valid;			/* false: to be built (again) */
} MmrTableCacheEntry;

typedef struct MmrTableCache
{
	/* Set by the user (a static initializer) */
	const char *catalog;		/* mmr.<catalog> holds the settings */
	Size		entrysize;
	MmrCatalogRowFn keep_row;	/* keeps one row, in the current context */
	void		(*forget_rows) (void);	/* the kept rows are gone */

	/* Private */
	HTAB	   *entries;
	MemoryContext rows_context;
	bool		rows_valid;
	Oid			catalog_relid;
} MmrTableCache;

/* Reads the rows again if they are stale. */
extern void mmr_table_cache_load(MmrTableCache *cache);

/* relid's entry (with the rows loaded); build it when it is not valid. */
extern void *mmr_table_cache_entry(MmrTableCache *cache, Oid relid);

/* Makes the rows and every entry stale. */
extern void mmr_table_cache_invalidate_all(MmrTableCache *cache);

#endif							/* MMR_TABLE_CACHE_H */
