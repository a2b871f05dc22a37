/*-------------------------------------------------------------------------
 *
 * apply_relmap.c
 *	  The apply worker's map from the peer's relations (by the peer's oid)
 *	  to local relations, with everything needed to turn the peer's column
 *	  values into a local tuple.
 *
 * NOTES
 *	  A RELATION message only replaces the peer's side of an entry.  The
 *	  local side (which table, which local column each remote column lands
 *	  in, the input functions, the defaults, the index to find rows by) is
 *	  resolved lazily, at the first change that needs it, and again after a
 *	  relcache invalidation of the local table, which the callback below
 *	  turns into local_valid = false.  No catalog is read per change: the
 *	  unique indexes to probe for conflicts and their equality procedures
 *	  are cached here too, and the table's resolvers once per remote
 *	  transaction (apply_conflict.c).
 *
 *	  Columns are matched by name.  Schemas may differ for a while without
 *	  a global DDL lock (docs/ddl.md): a column the peer sends that does not
 *	  exist here (dropped here, not yet there) is ignored; a local column
 *	  the peer does not send (added here, not yet there) gets its default,
 *	  or NULL, on INSERT and keeps its value on UPDATE.  A NOT NULL column
 *	  without a default that the peer does not send makes its INSERTs fail
 *	  (not-null violation, apply stops until the column gets a default).
 *	  Each difference is logged once per peer relation and column by this
 *	  worker, not per row.
 *
 *	  Binary values are only read with the local receive function when the
 *	  local column has the very type the peer sent: the output plugin sends
 *	  binary only for built-in types, whose oids and binary formats are the
 *	  same on every server of a major version.  Text values go through the
 *	  local input function, so differing but compatible types still work.
 *
 *	  Partitioned tables: the peer sends changes of partitions as changes
 *	  of the partitions themselves, so the local target is the partition of
 *	  the same name.  A local partitioned table as target (partitioned here,
 *	  a plain table on the peer) is an error for now; routing the row with
 *	  ExecFindPartition would lift that.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "nodes/bitmapset.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "apply_internal.h"
#include "apply_relmap.h"
#include "mmr.h"
#include "tombstone.h"

static HTAB *relmap = NULL;
static MemoryContext relmap_context = NULL;

/* The schema differences already logged (note_schema_difference). */
typedef struct SchemaDifference
{
	uint32		remote_relid;
	NameData	column;
	bool		missing_here;	/* sent by the peer, no such column here */
} SchemaDifference;

static HTAB *logged_differences = NULL;

static void relmap_init(void);
static void relmap_invalidate(Datum arg, Oid relid);
static void relmap_resolve(MmrApplyRelation *entry);
static void relmap_resolve_lookup(MmrApplyRelation *entry);
static void relmap_resolve_unique(MmrApplyRelation *entry);
static bool type_has_receive_function(Oid typid);
static void note_schema_difference(MmrApplyRelation *entry, const char *column,
								   bool missing_here, bool required);

/*
 * relmap_init creates the map and registers the invalidation callback, once
 * per process.
 */
static void
relmap_init(void)
{
	HASHCTL		ctl;

	relmap_context = AllocSetContextCreate(CacheMemoryContext,
										   "mmr apply relation map",
										   ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(MmrApplyRelation);
	ctl.hcxt = relmap_context;
	relmap = hash_create("mmr apply relations", 128, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(SchemaDifference);
	ctl.entrysize = sizeof(SchemaDifference);
	logged_differences = hash_create("mmr apply schema differences", 16, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(relmap_invalidate, (Datum) 0);
}

/*
 * relmap_invalidate marks the local side of the entries of a local table
 * (of every entry, for a full reset) stale; it is resolved again at the
 * next change.
 */
static void
relmap_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	MmrApplyRelation *entry;

	if (relmap == NULL)
		return;

	hash_seq_init(&status, relmap);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (!OidIsValid(relid) || entry->local_relid == relid)
			entry->local_valid = false;
	}
}

static char *
bytes_strdup(MmrBytes b)
{
	return pnstrdup(b.data, b.len);
}

/*
 * mmr_relmap_update stores the peer's description of one of its relations
 * (a RELATION message).  The strings are copied: the message buffer goes
 * away after this call.
 */
void
mmr_relmap_update(const MmrRelation *remote)
{
	MmrApplyRelation *entry;
	MemoryContext oldcxt;
	bool		found;

	if (relmap == NULL)
		relmap_init();

	entry = hash_search(relmap, &remote->relid, HASH_ENTER, &found);
	if (!found)
	{
		uint32		relid = remote->relid;

		memset(entry, 0, sizeof(*entry));
		entry->remote_relid = relid;
		entry->remote_context = AllocSetContextCreate(relmap_context,
													  "mmr apply remote relation",
													  ALLOCSET_SMALL_SIZES);
		entry->local_context = AllocSetContextCreate(relmap_context,
													 "mmr apply local relation",
													 ALLOCSET_SMALL_SIZES);
	}
	else
		MemoryContextReset(entry->remote_context);

	oldcxt = MemoryContextSwitchTo(entry->remote_context);
	entry->nspname = bytes_strdup(remote->nspname);
	entry->relname = bytes_strdup(remote->relname);
	entry->replica_identity = (char) remote->replica_identity;
	entry->ncolumns = remote->ncolumns;
	entry->columns = palloc0(sizeof(MmrRemoteColumn) * Max(remote->ncolumns, 1));
	for (int i = 0; i < remote->ncolumns; i++)
	{
		const MmrColumn *col = &remote->columns[i];
		MmrRemoteColumn *dst = &entry->columns[i];

		dst->name = bytes_strdup(col->name);
		dst->type_oid = col->type_oid;
		dst->typmod = col->typmod;
		dst->type_name = bytes_strdup(col->type_name);
		dst->is_key = (col->flags & MMR_COLUMN_KEY) != 0;
	}
	MemoryContextSwitchTo(oldcxt);

	/* The shape may have changed: map the columns again. */
	entry->local_valid = false;
}

/*
 * mmr_relmap_lookup returns the entry of a peer relation as the peer
 * described it, without touching the local side.
 */
MmrApplyRelation *
mmr_relmap_lookup(uint32 remote_relid)
{
	MmrApplyRelation *entry = NULL;

	if (relmap != NULL)
		entry = hash_search(relmap, &remote_relid, HASH_FIND, NULL);
	if (entry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent a change for relation %u without describing it first",
						remote_relid)));
	return entry;
}

/*
 * mmr_relmap_open returns the entry of a peer relation with its local table
 * open and locked in lockmode, resolving the local side when needed.
 * Caller is in a transaction and closes with mmr_relmap_close.
 */
MmrApplyRelation *
mmr_relmap_open(uint32 remote_relid, LOCKMODE lockmode)
{
	MmrApplyRelation *entry = mmr_relmap_lookup(remote_relid);

	entry->localrel = NULL;
	if (entry->local_valid)
	{
		/*
		 * Taking the lock processes invalidations, which may tell us the
		 * table was altered, renamed or dropped meanwhile.
		 */
		entry->localrel = try_table_open(entry->local_relid, lockmode);
		if (entry->localrel != NULL && !entry->local_valid)
		{
			table_close(entry->localrel, lockmode);
			entry->localrel = NULL;
		}
		if (entry->localrel == NULL)
			entry->local_valid = false;
	}

	if (!entry->local_valid)
	{
		RangeVar   *rv = makeRangeVar(entry->nspname, entry->relname, -1);
		Oid			relid = RangeVarGetRelid(rv, lockmode, true);

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table \"%s.%s\" does not exist on this node",
							entry->nspname, entry->relname),
					 errdetail("The peer sent changes for it."),
					 errhint("Create the table on this node, or exclude it from replication on the peer with mmr.set_table_replicated().")));
		entry->localrel = table_open(relid, NoLock);
		entry->local_relid = relid;
		relmap_resolve(entry);
		entry->local_valid = true;
	}
	return entry;
}

/*
 * mmr_relmap_close closes the local table; lockmode NoLock keeps the lock
 * until the end of the transaction (the usual case).
 */
void
mmr_relmap_close(MmrApplyRelation *rel, LOCKMODE lockmode)
{
	if (rel->localrel != NULL)
		table_close(rel->localrel, lockmode);
	rel->localrel = NULL;
}

/*
 * relmap_resolve computes the local side of an entry from its open local
 * table: column mapping by name, conversion functions, defaults of unsent
 * columns, and the index that finds rows for UPDATE and DELETE.
 */
static void
relmap_resolve(MmrApplyRelation *entry)
{
	Relation	rel = entry->localrel;
	TupleDesc	desc = RelationGetDescr(rel);
	char		relkind = rel->rd_rel->relkind;
	MemoryContext oldcxt;

	if (relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot apply changes to partitioned table \"%s.%s\"",
						entry->nspname, entry->relname),
				 errdetail("The table is partitioned on this node but not on the peer."),
				 errhint("Partition the table alike on every node.")));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot apply changes to \"%s.%s\"",
						entry->nspname, entry->relname),
				 errdetail("It is a table on the peer but not on this node.")));

	MemoryContextReset(entry->local_context);
	oldcxt = MemoryContextSwitchTo(entry->local_context);

	entry->natts = desc->natts;
	entry->local = palloc0(sizeof(MmrLocalColumn) * Max(desc->natts, 1));
	entry->has_defaults = false;
	for (int i = 0; i < desc->natts; i++)
		entry->local[i].remote_index = -1;

	/* Each column the peer sends lands in the local column of its name. */
	for (int r = 0; r < entry->ncolumns; r++)
	{
		MmrRemoteColumn *rcol = &entry->columns[r];
		int			found = -1;

		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), rcol->name) == 0)
			{
				found = i;
				break;
			}
		}
		if (found < 0)
		{
			note_schema_difference(entry, rcol->name, true, false);
			continue;
		}
		if (TupleDescAttr(desc, found)->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of table \"%s.%s\" is generated on this node but not on the peer",
							rcol->name, entry->nspname, entry->relname)));
		if (entry->local[found].remote_index >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("peer described table \"%s.%s\" with column \"%s\" twice",
							entry->nspname, entry->relname, rcol->name)));
		entry->local[found].remote_index = r;
	}

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		MmrLocalColumn *col = &entry->local[i];
		Oid			func;

		if (att->attisdropped)
			continue;

		getTypeInputInfo(att->atttypid, &func, &col->typioparam);
		fmgr_info_cxt(func, &col->in_func, entry->local_context);

		if (col->remote_index >= 0)
		{
			MmrRemoteColumn *rcol = &entry->columns[col->remote_index];

			col->binary_ok = att->atttypid == rcol->type_oid &&
				rcol->type_oid < FirstGenbkiObjectId &&
				type_has_receive_function(att->atttypid);
			if (col->binary_ok)
			{
				getTypeBinaryInputInfo(att->atttypid, &func, &col->typioparam);
				fmgr_info_cxt(func, &col->recv_func, entry->local_context);
			}
		}
		else if (!att->attgenerated)
		{
			Node	   *def = build_column_default(rel, i + 1);

			if (def != NULL)
			{
				col->default_expr = expression_planner((Expr *) def);
				entry->has_defaults = true;
			}
			note_schema_difference(entry, NameStr(att->attname), false,
								   def == NULL && att->attnotnull);
		}
	}

	relmap_resolve_lookup(entry);
	relmap_resolve_unique(entry);
	entry->has_tombstones = OidIsValid(mmr_tombstone_key_index(rel));
	entry->no_tombstones_at = 0;
	entry->tombstones_seen = false;
	entry->resolvers_xact = 0;

	entry->is_node_catalog =
		RelationGetNamespace(rel) == mmr_schema_oid(true) &&
		strcmp(RelationGetRelationName(rel), "node") == 0;

	MemoryContextSwitchTo(oldcxt);
}

/*
 * relmap_resolve_lookup picks the index that finds the local row of a
 * remote UPDATE or DELETE: the replica identity index, else the primary
 * key.  Its columns must be part of the peer's replica identity, or the
 * old key the peer sends could not be looked up in it; when they are not,
 * the reason is kept for the error at the first UPDATE or DELETE (INSERTs
 * do not care).  Without such an index, rows are found by comparing whole
 * rows, which needs the peer to send whole old rows (REPLICA IDENTITY
 * FULL).
 */
static void
relmap_resolve_lookup(MmrApplyRelation *entry)
{
	Relation	rel = entry->localrel;
	Bitmapset  *keys;
	int			attr = -1;

	entry->lookup_unusable = NULL;
	entry->lookup_index = RelationGetReplicaIndex(rel);
	if (OidIsValid(entry->lookup_index))
		keys = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	else
	{
		entry->lookup_index = RelationGetPrimaryKeyIndex(rel);
		if (!OidIsValid(entry->lookup_index))
			return;
		keys = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	}

	while ((attr = bms_next_member(keys, attr)) >= 0)
	{
		AttrNumber	attnum = attr + FirstLowInvalidHeapAttributeNumber;
		MmrLocalColumn *col;
		const char *name;

		if (attnum <= 0 || attnum > entry->natts)
			continue;
		col = &entry->local[attnum - 1];
		col->lookup_key = true;
		name = NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname);

		if (entry->lookup_unusable != NULL)
			continue;
		if (col->remote_index < 0)
			entry->lookup_unusable =
				psprintf("Column \"%s\" of the local key is not sent by the peer.", name);
		else if (!entry->columns[col->remote_index].is_key)
			entry->lookup_unusable =
				psprintf("Column \"%s\" of the local key is not part of the peer's replica identity.",
						 name);
	}
	bms_free(keys);
}

/*
 * relmap_resolve_unique lists the unique indexes a remote new row is probed
 * against (docs/conflicts.md, "locate"), with their equality procedures, as
 * BuildSpeculativeIndexInfo finds them.  Deferrable ones are left out, as
 * PostgreSQL's own conflict detection does: they are checked at commit.
 * Unique indexes are btree in core PostgreSQL; another access method would
 * need its own strategy numbers, so it is left out too.
 */
static void
relmap_resolve_unique(MmrApplyRelation *entry)
{
	Relation	rel = entry->localrel;
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	entry->nunique = 0;
	entry->unique_oids = NIL;
	entry->unique = palloc0(sizeof(MmrUniqueIndex) * Max(list_length(indexes), 1));
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		Relation	idxrel = index_open(indexoid, AccessShareLock);
		Form_pg_index index = idxrel->rd_index;

		if (index->indisunique && index->indimmediate && index->indisvalid &&
			idxrel->rd_rel->relam == BTREE_AM_OID)
		{
			MmrUniqueIndex *ui = &entry->unique[entry->nunique++];

			ui->indexoid = indexoid;
			entry->unique_oids = lappend_oid(entry->unique_oids, indexoid);
			ui->is_lookup = indexoid == entry->lookup_index;
			ui->nkeys = IndexRelationGetNumberOfKeyAttributes(idxrel);
			for (int i = 0; i < ui->nkeys; i++)
			{
				Oid			op = get_opfamily_member(idxrel->rd_opfamily[i],
													 idxrel->rd_opcintype[i],
													 idxrel->rd_opcintype[i],
													 BTEqualStrategyNumber);

				if (!OidIsValid(op))
					elog(ERROR, "missing operator %d(%u,%u) in opfamily %u",
						 BTEqualStrategyNumber, idxrel->rd_opcintype[i],
						 idxrel->rd_opcintype[i], idxrel->rd_opfamily[i]);
				ui->procs[i] = get_opcode(op);
				ui->attnums[i] = index->indkey.values[i];
			}
		}
		index_close(idxrel, AccessShareLock);
	}
	list_free(indexes);
}

static bool
type_has_receive_function(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	bool		result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	result = OidIsValid(((Form_pg_type) GETSTRUCT(tup))->typreceive);
	ReleaseSysCache(tup);
	return result;
}

/*
 * note_schema_difference logs, once per peer relation and column, that the
 * peer sends a column that does not exist here (missing_here) or does not
 * send a local column; required: that column is NOT NULL without a default,
 * so the peer's new rows cannot be stored.
 */
static void
note_schema_difference(MmrApplyRelation *entry, const char *column,
					   bool missing_here, bool required)
{
	SchemaDifference key;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.remote_relid = entry->remote_relid;
	namestrcpy(&key.column, column);
	key.missing_here = missing_here;
	(void) hash_search(logged_differences, &key, HASH_ENTER, &found);
	if (found)
		return;

	if (missing_here)
		ereport(LOG,
				(errmsg("peer \"%s\" sends column \"%s\" of table \"%s.%s\", which does not exist on this node",
						mmr_apply_errctx.peer_name, column, entry->nspname, entry->relname),
				 errdetail("Its values are ignored (docs/ddl.md).")));
	else if (required)
		ereport(WARNING,
				(errmsg("peer \"%s\" does not send column \"%s\" of table \"%s.%s\", which is NOT NULL without a default on this node",
						mmr_apply_errctx.peer_name, column, entry->nspname, entry->relname),
				 errdetail("New rows from the peer violate the NOT NULL constraint and stop apply from it."),
				 errhint("Give the column a default on this node (ALTER TABLE ... ALTER COLUMN ... SET DEFAULT); apply then resumes.")));
	else
		ereport(LOG,
				(errmsg("peer \"%s\" does not send column \"%s\" of table \"%s.%s\"",
						mmr_apply_errctx.peer_name, column, entry->nspname, entry->relname),
				 errdetail("New rows from the peer get the column's default or NULL; its updates keep the local value (docs/ddl.md).")));
}
