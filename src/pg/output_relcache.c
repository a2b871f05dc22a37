/*-------------------------------------------------------------------------
 *
 * output_relcache.c
 *	  What the mmr output plugin knows about each decoded relation: whether
 *	  it is replicated, whether its RELATION message was sent in this stream,
 *	  and how to render each column.
 *
 * NOTES
 *	  Entries are computed once per relation and dropped by the relcache
 *	  invalidation callback, which decoding fires at the right point of the
 *	  historic stream (after ALTER TABLE, and after set_table_replicated,
 *	  which invalidates the table on purpose).  An invalidated entry is also
 *	  marked unsent, so the RELATION message goes out again with the new
 *	  shape before the next change.
 *
 *	  The cache lives in CacheMemoryContext and is rebuilt at every decoding
 *	  startup, so "sent" always means "sent in this stream", even when an
 *	  earlier stream in the same backend ended with an ERROR.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/transam.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "mmr.h"
#include "output_relcache.h"

/*
 * The extension's own catalogs that replicate to the peers, and how a
 * joining node gets what they held before it joined (join_copy.c).
 */
const MmrReplicatedCatalog mmr_replicated_catalogs[] = {
	{"node", MMR_JOIN_MEMBER_LIST},
	{"conflict_resolver", MMR_JOIN_COPY_ROWS},
	{"write_partition", MMR_JOIN_COPY_ROWS},
};
const int	mmr_replicated_catalogs_count = lengthof(mmr_replicated_catalogs);

static HTAB *output_relations = NULL;
static bool callback_registered = false;

static void output_relcache_invalidate(Datum arg, Oid relid);
static void output_relation_build(MmrOutputRelation *entry, Relation rel,
								  bool binary);
static bool output_relation_is_published(Relation rel);
static bool type_has_send_function(Oid typid);

/*
 * mmr_output_relcache_reset starts a new stream with an empty cache.
 */
void
mmr_output_relcache_reset(void)
{
	HASHCTL		ctl;

	if (output_relations != NULL)
		hash_destroy(output_relations);

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(MmrOutputRelation);
	ctl.hcxt = CacheMemoryContext;
	output_relations = hash_create("mmr output relations", 128, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(output_relcache_invalidate, (Datum) 0);
		callback_registered = true;
	}
}

/*
 * mmr_output_relation_get returns the (valid) entry of a decoded relation.
 */
MmrOutputRelation *
mmr_output_relation_get(Relation rel, bool binary)
{
	Oid			relid = RelationGetRelid(rel);
	MmrOutputRelation *entry;
	bool		found;

	Assert(output_relations != NULL);
	entry = hash_search(output_relations, &relid, HASH_ENTER, &found);
	if (!found)
	{
		memset(entry, 0, sizeof(*entry));
		entry->relid = relid;
	}
	if (!entry->valid)
		output_relation_build(entry, rel, binary);
	return entry;
}

/*
 * output_relation_build (re)computes an entry from the relation as of the
 * decoded transaction.
 */
static void
output_relation_build(MmrOutputRelation *entry, Relation rel, bool binary)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext oldcxt;
	Bitmapset  *key_attrs = NULL;
	bool		full_identity = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
	int			n = 0;

	if (entry->columns != NULL)
		pfree(entry->columns);
	entry->columns = NULL;
	entry->ncolumns = 0;
	entry->schema_sent = false;
	entry->published = output_relation_is_published(rel);
	if (!entry->published)
	{
		entry->valid = true;
		return;
	}

	if (!full_identity)
		key_attrs = RelationGetIdentityKeyBitmap(rel);

	oldcxt = MemoryContextSwitchTo(CacheMemoryContext);
	entry->columns = palloc0(sizeof(MmrOutputColumn) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		MmrOutputColumn *col = &entry->columns[n];
		Oid			func;
		bool		is_varlena;

		/* The peer has its own dropped and generated columns. */
		if (att->attisdropped || att->attgenerated)
			continue;

		col->attindex = i;
		col->is_key = full_identity ||
			bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber,
						  key_attrs);
		col->is_varlena = att->attlen == -1;

		/*
		 * Built-in types have the same oid and binary format on every server
		 * of a major version; other types travel as text and are looked up
		 * by name on the receiver.
		 */
		col->binary = binary && att->atttypid < FirstGenbkiObjectId &&
			type_has_send_function(att->atttypid);
		if (col->binary)
			getTypeBinaryOutputInfo(att->atttypid, &func, &is_varlena);
		else
			getTypeOutputInfo(att->atttypid, &func, &is_varlena);
		fmgr_info_cxt(func, &col->out_func, CacheMemoryContext);
		n++;
	}
	entry->ncolumns = n;
	MemoryContextSwitchTo(oldcxt);
	bms_free(key_attrs);
	entry->valid = true;
}

/*
 * output_relation_is_published decides whether a relation's changes are
 * sent: user tables unless excluded by mmr.set_table_replicated, and of the
 * extension's own catalogs only those listed in mmr_replicated_catalogs.
 */
static bool
output_relation_is_published(Relation rel)
{
	Oid			nspid = RelationGetNamespace(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		return false;

	if (nspid == mmr_schema_oid(true))
	{
		const char *relname = RelationGetRelationName(rel);

		for (int i = 0; i < mmr_replicated_catalogs_count; i++)
			if (strcmp(relname, mmr_replicated_catalogs[i].relname) == 0)
				return true;
		return false;
	}

	if (!mmr_table_is_replicated(RelationGetRelid(rel)))
		return false;

	/* Excluding a partitioned table excludes all its partitions. */
	if (rel->rd_rel->relispartition)
	{
		List	   *ancestors = get_partition_ancestors(RelationGetRelid(rel));
		ListCell   *lc;

		foreach(lc, ancestors)
			if (!mmr_table_is_replicated(lfirst_oid(lc)))
				return false;
	}
	return true;
}

static bool
type_has_send_function(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	bool		result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	result = OidIsValid(((Form_pg_type) GETSTRUCT(tup))->typsend);
	ReleaseSysCache(tup);
	return result;
}

/*
 * output_relcache_invalidate marks entries stale; they are rebuilt, and
 * their RELATION message re-sent, at the next change.
 */
static void
output_relcache_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	MmrOutputRelation *entry;

	if (output_relations == NULL)
		return;

	if (OidIsValid(relid))
	{
		entry = hash_search(output_relations, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		return;
	}

	hash_seq_init(&status, output_relations);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}
