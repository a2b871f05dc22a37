/*-------------------------------------------------------------------------
 *
 * table_cache.c
 *	  Per-table caches of replicated settings catalogs (table_cache.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/inval.h"
#include "utils/memutils.h"

#include "table_cache.h"

void
mmr_table_cache_invalidate_all(MmrTableCache *cache)
{
	HASH_SEQ_STATUS status;
	MmrTableCacheEntry *entry;

	cache->rows_valid = false;
	if (cache->entries == NULL)
		return;
	hash_seq_init(&status, cache->entries);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

static void
table_cache_relcache_callback(Datum arg, Oid relid)
{
	MmrTableCache *cache = (MmrTableCache *) DatumGetPointer(arg);
	MmrTableCacheEntry *entry;

	if (!OidIsValid(relid) || !OidIsValid(cache->catalog_relid) ||
		relid == cache->catalog_relid)
	{
		mmr_table_cache_invalidate_all(cache);
		return;
	}
	entry = hash_search(cache->entries, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		entry->valid = false;
}

/*
 * mmr_table_cache_load creates the cache at first use and reads the
 * catalog's rows when they are stale.  Without the extension there are
 * none, and every relcache invalidation makes the next call look again.
 */
void
mmr_table_cache_load(MmrTableCache *cache)
{
	MemoryContext oldcxt;

	if (cache->entries == NULL)
	{
		HASHCTL		ctl;

		Assert(cache->entrysize >= sizeof(MmrTableCacheEntry));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = cache->entrysize;
		ctl.hcxt = CacheMemoryContext;
		cache->entries = hash_create(cache->catalog, 32, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		cache->rows_context = AllocSetContextCreate(CacheMemoryContext, "mmr settings",
													ALLOCSET_SMALL_SIZES);
		MemoryContextSetIdentifier(cache->rows_context, cache->catalog);
		cache->rows_valid = false;
		CacheRegisterRelcacheCallback(table_cache_relcache_callback,
									  PointerGetDatum(cache));
	}
	if (cache->rows_valid)
		return;

	MemoryContextReset(cache->rows_context);
	cache->forget_rows();
	cache->rows_valid = true;
	oldcxt = MemoryContextSwitchTo(cache->rows_context);
	cache->catalog_relid = mmr_catalog_read_all(cache->catalog, cache->keep_row, NULL);
	MemoryContextSwitchTo(oldcxt);
}

void *
mmr_table_cache_entry(MmrTableCache *cache, Oid relid)
{
	MmrTableCacheEntry *entry;
	bool		found;

	mmr_table_cache_load(cache);
	entry = hash_search(cache->entries, &relid, HASH_ENTER, &found);
	if (!found)
		entry->valid = false;
	return entry;
}
