/*-------------------------------------------------------------------------
 *
 * tombstone.c
 *	  Delete tombstones: one row of mmr.tombstone (relation, key) per
 *	  deleted key; unique value registers: one row of mmr.unique_claim
 *	  (relation, index, value) per value of a secondary unique index left
 *	  without the row that last held it (docs/conflicts.md, "Unique keys");
 *	  and their collection.
 *
 * NOTES
 *	  A tombstone row is written in the transaction of the delete, so its
 *	  xmin's commit_ts tells the delete's origin and commit time, as for any
 *	  row.  Recording an existing key updates the row, which gives it the
 *	  new delete's xmin.
 *
 *	  The key is the text form of the replica identity (or primary key)
 *	  columns, made by the columns' output functions.  Local deletes (the
 *	  trigger) and applied ones must render a key alike whatever the
 *	  session's settings, so for key types whose output depends on a
 *	  setting (dates, times, floats, bytea...) the rendering runs with fixed
 *	  ones.  The column is COLLATE "C": lookups compare bytes.
 *
 *	  Tombstones are recorded through a saved plan (an INSERT ... ON
 *	  CONFLICT DO UPDATE, which is safe against a concurrent collector or
 *	  recorder) run as the owner of mmr.tombstone, because a local delete
 *	  runs as whoever deletes.  Lookups and collection work on the heap and
 *	  index directly.
 *
 *	  Collection (the manager, every few seconds) removes a tombstone once
 *	  mmr_tombstone_collectable says no change concurrent with the delete
 *	  can still arrive, given each peer's latest horizon.
 *
 *	  A tombstone or register whose version is not its xmin's (the row
 *	  deleted because a change claimed one of its values, a released value)
 *	  carries it in its origin and commit_time columns; commit_time
 *	  -infinity is an unknown time.  A register already collectable when it
 *	  would be written is not written at all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "mmr.h"
#include "node_cache.h"
#include "shmem.h"
#include "tombstone.h"

/* How the columns of one index are rendered. */
typedef struct IndexRender
{
	Oid			indexoid;
	int			nkeys;			/* 0: not rendered */
	AttrNumber	attnums[INDEX_MAX_KEYS];
	FmgrInfo	output[INDEX_MAX_KEYS];
	bool		fixed_settings; /* some key type's output depends on GUCs */
} IndexRender;

/*
 * Per table: its key, its secondary unique indexes and their registers.
 * An entry's arrays last until the next key_info call (which rebuilds an
 * invalidated entry): hold no pointer into them across a catalog access.
 */
typedef struct TombstoneKeyInfo
{
	Oid			relid;			/* hash key */
	bool		valid;
	IndexRender key;			/* nkeys 0: no replica identity index */
	int			nunique;		/* secondary unique indexes with registers */
	IndexRender *unique;
	Oid		   *unique_oids;
	uint64		registers_asked_at; /* 1 + mmr_tombstone_writes() when
									 * registers_seen was found; 0: never */
	bool		registers_seen; /* the table had some then */
} TombstoneKeyInfo;

static HTAB *key_infos = NULL;

/* Counts invalidations, so that an entry built meanwhile stays invalid. */
static uint64 key_info_invalidations = 0;

/* mmr.tombstone and mmr.unique_claim, looked up once per extension lifetime */
static Oid	tombstone_relid = InvalidOid;
static Oid	tombstone_index = InvalidOid;
static Oid	tombstone_owner = InvalidOid;
static Oid	claim_relid = InvalidOid;
static Oid	claim_index = InvalidOid;
static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr claim_record_plan = NULL;
static SPIPlanPtr claim_forget_plan = NULL;

/* This transaction removed a register: count a write once it commits. */
static bool registers_removed = false;

/* Their columns holding an explicit version (origin, then commit_time). */
#define TOMBSTONE_ORIGIN_ATTNO 3
#define CLAIM_ORIGIN_ATTNO 4

static void
tombstone_relcache_callback(Datum arg, Oid relid)
{
	TombstoneKeyInfo *info;

	key_info_invalidations++;
	if (!OidIsValid(relid) || relid == tombstone_relid || relid == claim_relid)
	{
		HASH_SEQ_STATUS status;

		tombstone_relid = InvalidOid;
		hash_seq_init(&status, key_infos);
		while ((info = hash_seq_search(&status)) != NULL)
			info->valid = false;
		return;
	}
	info = hash_search(key_infos, &relid, HASH_FIND, NULL);
	if (info != NULL)
		info->valid = false;
}

/*
 * Removing registers moves the shared write count only once the removal
 * is visible: a reader that re-asked before it would keep "some" until the
 * next write (mmr_unique_claim_may_exist).
 */
static void
tombstone_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && registers_removed)
		mmr_note_tombstone_write();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		registers_removed = false;
}

static void
tombstone_cache_init(void)
{
	HASHCTL		ctl;

	if (key_infos != NULL)
		return;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(TombstoneKeyInfo);
	ctl.hcxt = CacheMemoryContext;
	key_infos = hash_create("mmr tombstone keys", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(tombstone_relcache_callback, (Datum) 0);
	RegisterXactCallback(tombstone_xact_callback, NULL);
}

/* The oid of mmr.<name> and of its primary key. */
static Oid
catalog_lookup(const char *name, Oid *pkey, Oid *owner)
{
	Oid			relid = mmr_catalog_relid(name);
	Relation	rel;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("mmr.%s does not exist", name),
				 errhint("Install the mmr extension in this database.")));
	rel = table_open(relid, AccessShareLock);
	*pkey = RelationGetPrimaryKeyIndex(rel);
	if (owner != NULL)
		*owner = rel->rd_rel->relowner;
	table_close(rel, AccessShareLock);
	return relid;
}

static void
tombstone_catalog_lookup(void)
{
	tombstone_cache_init();
	if (OidIsValid(tombstone_relid))
		return;
	claim_relid = catalog_lookup("unique_claim", &claim_index, NULL);
	tombstone_relid = catalog_lookup("tombstone", &tombstone_index,
									 &tombstone_owner);
}

/*
 * mmr_tombstone_owner returns the owner of mmr.tombstone, who installed
 * the extension: tombstones are written, and triggers created, as this role.
 */
Oid
mmr_tombstone_owner(void)
{
	tombstone_catalog_lookup();
	return tombstone_owner;
}

/*
 * mmr_tombstone_key_index returns the index whose columns key rel's
 * tombstones: the replica identity index, else the primary key.
 */
Oid
mmr_tombstone_key_index(Relation rel)
{
	Oid			index = RelationGetReplicaIndex(rel);

	return OidIsValid(index) ? index : RelationGetPrimaryKeyIndex(rel);
}

/* Types whose text form does not depend on any setting. */
static bool
output_is_fixed(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case UUIDOID:
			return true;
		default:
			return false;
	}
}

/*
 * build_render prepares the rendering of an index's key columns; nkeys
 * stays 0 when one is an expression.
 */
static void
build_render(IndexRender *render, Relation rel, Relation index)
{
	TupleDesc	desc = RelationGetDescr(rel);

	render->indexoid = RelationGetRelid(index);
	render->nkeys = 0;
	render->fixed_settings = false;
	for (int i = 0; i < index->rd_index->indnkeyatts; i++)
	{
		AttrNumber	attnum = index->rd_index->indkey.values[i];
		Form_pg_attribute att;
		Oid			func;
		bool		is_varlena;

		if (attnum <= 0)
			return;
		att = TupleDescAttr(desc, attnum - 1);
		render->attnums[i] = attnum;
		getTypeOutputInfo(att->atttypid, &func, &is_varlena);
		fmgr_info_cxt(func, &render->output[i], CacheMemoryContext);
		if (!output_is_fixed(att->atttypid))
			render->fixed_settings = true;
	}
	render->nkeys = index->rd_index->indnkeyatts;
}

/*
 * A secondary unique index keeps registers when apply probes it (unique,
 * immediate, valid, btree: apply_relmap.c's list) and it is not the key
 * index, nor partial, and values it treats as equal are equal images:
 * registers compare the text forms (so not with a nondeterministic
 * collation, citext, numeric, floats).  (One on expressions keeps none:
 * build_render.)
 */
static bool
keeps_registers(Relation index, Oid keyindex)
{
	Form_pg_index form = index->rd_index;

	return RelationGetRelid(index) != keyindex && form->indisunique &&
		form->indimmediate && form->indisvalid &&
		index->rd_rel->relam == BTREE_AM_OID &&
		heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) &&
		_bt_allequalimage(index, false);
}

static void
build_key_info(TombstoneKeyInfo *info, Relation rel)
{
	uint64		invalidations = key_info_invalidations;
	Oid			keyindex = mmr_tombstone_key_index(rel);
	List	   *indexes;
	ListCell   *lc;
	int			n;

	if (info->unique != NULL)
		pfree(info->unique);
	if (info->unique_oids != NULL)
		pfree(info->unique_oids);
	memset(info, 0, sizeof(*info));
	info->relid = RelationGetRelid(rel);
	if (!OidIsValid(keyindex))
	{
		info->valid = key_info_invalidations == invalidations;
		return;
	}

	indexes = RelationGetIndexList(rel);
	n = Max(list_length(indexes), 1);
	info->unique = MemoryContextAllocZero(CacheMemoryContext, sizeof(IndexRender) * n);
	info->unique_oids = MemoryContextAllocZero(CacheMemoryContext, sizeof(Oid) * n);
	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		IndexRender *next = &info->unique[info->nunique];

		if (RelationGetRelid(index) == keyindex)
			build_render(&info->key, rel, index);
		else if (keeps_registers(index, keyindex))
		{
			build_render(next, rel, index);
			if (next->nkeys > 0)
				info->unique_oids[info->nunique++] = next->indexoid;
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	/* Complete, and no invalidation came while index_open waited. */
	info->valid = key_info_invalidations == invalidations;
}

static TombstoneKeyInfo *
key_info(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TombstoneKeyInfo *info;
	bool		found;

	tombstone_cache_init();
	info = hash_search(key_infos, &relid, HASH_ENTER, &found);
	if (!found)
	{
		info->unique = NULL;
		info->unique_oids = NULL;
	}
	if (!found || !info->valid)
		build_key_info(info, rel);
	return info;
}

/* Quotes a value of a composite key the way record_out does. */
static void
append_key_part(StringInfo buf, const char *value)
{
	bool		quote = value[0] == '\0';

	for (const char *p = value; !quote && *p; p++)
		quote = *p == '"' || *p == '\\' || *p == '(' || *p == ')' ||
			*p == ',' || isspace((unsigned char) *p);
	if (!quote)
	{
		appendStringInfoString(buf, value);
		return;
	}
	appendStringInfoChar(buf, '"');
	for (const char *p = value; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(buf, *p);
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

static void
set_fixed(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * render renders an index's columns for the row in slot: the value itself
 * for one column, (v1,v2,...) for more.  NULL when a value is NULL (key
 * columns never are; a NULL unique value is held by no one).
 */
static char *
render(IndexRender *r, TupleTableSlot *slot)
{
	StringInfoData buf;
	int			nestlevel = -1;
	Datum		values[INDEX_MAX_KEYS];

	for (int i = 0; i < r->nkeys; i++)
	{
		bool		isnull;

		values[i] = slot_getattr(slot, r->attnums[i], &isnull);
		if (isnull)
			return NULL;
	}

	if (r->fixed_settings)
	{
		nestlevel = NewGUCNestLevel();
		set_fixed("DateStyle", "ISO, YMD");
		set_fixed("IntervalStyle", "postgres");
		set_fixed("TimeZone", "UTC");
		set_fixed("extra_float_digits", "3");
		set_fixed("bytea_output", "hex");
	}

	initStringInfo(&buf);
	if (r->nkeys > 1)
		appendStringInfoChar(&buf, '(');
	for (int i = 0; i < r->nkeys; i++)
	{
		char	   *text = OutputFunctionCall(&r->output[i], values[i]);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (r->nkeys > 1)
			append_key_part(&buf, text);
		else
			appendStringInfoString(&buf, text);
	}
	if (r->nkeys > 1)
		appendStringInfoChar(&buf, ')');

	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
	return buf.data;
}

/*
 * mmr_tombstone_key renders the key of the row in slot.
 */
char *
mmr_tombstone_key(Relation rel, TupleTableSlot *slot)
{
	TombstoneKeyInfo *info = key_info(rel);

	return info->key.nkeys == 0 ? NULL : render(&info->key, slot);
}

/*
 * version_of_tuple: the version a tombstone or register row stands for:
 * its explicit one (origin at origin_attno, commit_time next), else its
 * xmin's.
 */
static void
version_of_tuple(HeapTuple tup, TupleDesc desc, int origin_attno,
				 MmrVersion *version)
{
	bool		isnull;
	Datum		origin = heap_getattr(tup, origin_attno, desc, &isnull);
	TimestampTz time;
	bool		known;

	if (isnull)
	{
		mmr_version_from_xid(HeapTupleHeaderGetXmin(tup->t_data), version);
		return;
	}
	time = DatumGetTimestampTz(heap_getattr(tup, origin_attno + 1, desc, &isnull));
	known = !isnull && !TIMESTAMP_IS_NOBEGIN(time);
	mmr_version_for_node(DatumGetInt32(origin), known ? time : 0, version);
	version->time_known = known;
}

/* A version as the origin and commit_time parameters (NULL: the xmin's). */
static void
version_params(const MmrVersion *version, Datum *values, char *nulls)
{
	nulls[0] = nulls[1] = version == NULL ? 'n' : ' ';
	if (version == NULL)
		return;
	values[0] = Int32GetDatum(version->origin_node);
	values[1] = TimestampTzGetDatum(version->time_known ? version->commit_time : DT_NOBEGIN);
}

/*
 * find_version looks up one row of a catalog by its primary key (relid,
 * then indexoid unless invalid, then text) with the latest snapshot (a
 * write committed by anyone, or by this transaction, counts) and fills
 * *version.  The version of a frozen row is unknown: older than everything.
 */
static bool
find_version(Oid catalog, Oid index, Oid relid, Oid indexoid,
			 const char *text, int origin_attno, MmrVersion *version)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snapshot;
	bool		found;
	ScanKeyData skey[3];
	int			nkeys = 0;

	ScanKeyInit(&skey[nkeys], nkeys + 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	nkeys++;
	if (OidIsValid(indexoid))
	{
		ScanKeyInit(&skey[nkeys], nkeys + 1, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(indexoid));
		nkeys++;
	}
	ScanKeyInit(&skey[nkeys], nkeys + 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(text));
	nkeys++;

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(catalog, AccessShareLock);
	scan = systable_beginscan(rel, index, true, snapshot, nkeys, skey);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found)
		version_of_tuple(tup, RelationGetDescr(rel), origin_attno, version);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return found;
}

/*
 * any_of_relation: has the catalog a row of relid, committed or being
 * written (a dirty snapshot)?  For apply's per-table shortcuts (see
 * MmrShmemData.tombstone_writes).
 */
static bool
any_of_relation(Oid catalog, Oid index, Oid relid)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData skey;
	SnapshotData dirty;
	bool		found;

	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	InitDirtySnapshot(dirty);
	rel = table_open(catalog, AccessShareLock);
	scan = systable_beginscan(rel, index, true, &dirty, 1, &skey);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * run_as_owner runs a saved plan (prepared at its first use) as the owner
 * of mmr's catalogs, because a local delete or update runs as whoever
 * writes (with whatever search_path: mmr_as_owner_enter).  Upserts (ON CONFLICT DO UPDATE) are safe against a concurrent
 * collector or recorder.
 */
static void
run_as_owner(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			 Datum *values, const char *nulls, int expected)
{
	MmrAsOwner	as_owner;
	int			ret;

	mmr_as_owner_enter(&as_owner);
	SPI_connect();
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, types);

		if (prepared == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	ret = SPI_execute_plan(*plan, values, nulls, false, 0);
	if (ret != expected)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(ret));
	SPI_finish();
	mmr_as_owner_leave(&as_owner);
}

/*
 * upsert_version records a tombstone or register: nkeys key parameters,
 * then the version's two (NULL: this transaction's), and counts the write.
 */
static void
upsert_version(SPIPlanPtr *plan, const char *sql, int nkeys, Oid *types,
			   Datum *values, char *nulls, const MmrVersion *version)
{
	version_params(version, &values[nkeys], &nulls[nkeys]);
	run_as_owner(plan, sql, nkeys + 2, types, values, nulls, SPI_OK_INSERT);
	mmr_note_tombstone_write();
}

bool
mmr_tombstone_find(Relation rel, const char *key, MmrVersion *version)
{
	tombstone_catalog_lookup();
	return find_version(tombstone_relid, tombstone_index, RelationGetRelid(rel),
						InvalidOid, key, TOMBSTONE_ORIGIN_ATTNO, version);
}

bool
mmr_tombstone_any(Relation rel)
{
	tombstone_catalog_lookup();
	return any_of_relation(tombstone_relid, tombstone_index, RelationGetRelid(rel));
}

void
mmr_tombstone_record(Relation rel, const char *key)
{
	mmr_tombstone_record_version(rel, key, NULL);
}

void
mmr_tombstone_record_version(Relation rel, const char *key,
							 const MmrVersion *version)
{
	Oid			types[4] = {OIDOID, TEXTOID, INT4OID, TIMESTAMPTZOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	tombstone_catalog_lookup();
	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = CStringGetTextDatum(key);
	upsert_version(&record_plan,
				   "INSERT INTO mmr.tombstone AS t (relation, key, origin, commit_time) "
				   "VALUES ($1, $2, $3, $4) ON CONFLICT (relation, key) "
				   "DO UPDATE SET origin = EXCLUDED.origin, commit_time = EXCLUDED.commit_time",
				   2, types, values, nulls, version);
}

int
mmr_unique_indexes(Relation rel, Oid **indexoids)
{
	TombstoneKeyInfo *info = key_info(rel);

	if (indexoids != NULL && info->nunique > 0)
	{
		*indexoids = palloc(sizeof(Oid) * info->nunique);
		memcpy(*indexoids, info->unique_oids, sizeof(Oid) * info->nunique);
	}
	return info->nunique;
}

char *
mmr_unique_value(Relation rel, Oid indexoid, TupleTableSlot *slot)
{
	TombstoneKeyInfo *info = key_info(rel);

	for (int u = 0; u < info->nunique; u++)
		if (info->unique[u].indexoid == indexoid)
			return render(&info->unique[u], slot);
	return NULL;
}

bool
mmr_unique_claim_find(Relation rel, Oid indexoid, const char *value,
					  MmrVersion *version)
{
	tombstone_catalog_lookup();
	return find_version(claim_relid, claim_index, RelationGetRelid(rel), indexoid,
						value, CLAIM_ORIGIN_ATTNO, version);
}

/*
 * mmr_unique_claim_may_exist: may rel have a register?  The catalog is
 * asked again only when the shared count of writes moved since
 * (MmrShmemData.tombstone_writes: register inserts, and the commits of
 * their removals), as apply's tombstone shortcut does: a table that has
 * none, never had or no longer has, costs no lookup.
 */
bool
mmr_unique_claim_may_exist(Relation rel)
{
	TombstoneKeyInfo *info = key_info(rel);
	uint64		writes;

	if (info->nunique == 0)
		return false;
	writes = mmr_tombstone_writes();
	if (info->registers_asked_at == writes + 1)
		return info->registers_seen;
	tombstone_catalog_lookup();
	info->registers_seen = any_of_relation(claim_relid, claim_index,
										   RelationGetRelid(rel));
	info->registers_asked_at = writes + 1;
	return info->registers_seen;
}

/* Could the manager collect a tombstone or register of this version now? */
static bool
collectable_now(const MmrVersion *version)
{
	static MmrHorizonEntry storage[MMR_MAX_HORIZON * MMR_MAX_HORIZON];
	MmrPeerHorizon peers[MMR_MAX_HORIZON];
	int			npeers;

	if (version == NULL)
		return false;			/* this transaction's: not even committed */
	npeers = mmr_peer_horizons(MyDatabaseId, peers, storage, MMR_MAX_HORIZON);
	return mmr_tombstone_collectable(version, mmr_local_node_id(), peers, npeers);
}

void
mmr_unique_claim_record(Relation rel, Oid indexoid, const char *value,
						const MmrVersion *version)
{
	Oid			types[5] = {OIDOID, OIDOID, TEXTOID, INT4OID, TIMESTAMPTZOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	tombstone_catalog_lookup();
	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = ObjectIdGetDatum(indexoid);
	values[2] = CStringGetTextDatum(value);
	if (collectable_now(version))
	{
		MmrVersion	stored;

		/*
		 * Any change still to arrive has seen it: no register at all (one
		 * index descent finds whether there is one to remove).
		 */
		if (mmr_unique_claim_may_exist(rel) &&
			mmr_unique_claim_find(rel, indexoid, value, &stored))
		{
			run_as_owner(&claim_forget_plan,
						 "DELETE FROM mmr.unique_claim "
						 "WHERE relation = $1 AND index = $2 AND value = $3",
						 3, types, values, nulls, SPI_OK_DELETE);
			registers_removed = true;
		}
		return;
	}
	upsert_version(&claim_record_plan,
				   "INSERT INTO mmr.unique_claim AS c (relation, index, value, origin, commit_time) "
				   "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (relation, index, value) "
				   "DO UPDATE SET origin = EXCLUDED.origin, commit_time = EXCLUDED.commit_time",
				   3, types, values, nulls, version);
}

void
mmr_unique_release(Relation rel, TupleTableSlot *old, TupleTableSlot *now,
				   const MmrVersion *version)
{
	TombstoneKeyInfo *info = key_info(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid		   *indexoids;
	char	  **values;
	int			n = 0;

	if (info->nunique == 0)
		return;
	/* All rendered first: recording may rebuild info (key_info). */
	indexoids = palloc(sizeof(Oid) * info->nunique);
	values = palloc(sizeof(char *) * info->nunique);
	for (int u = 0; u < info->nunique; u++)
	{
		IndexRender *r = &info->unique[u];
		bool		kept = now != NULL;

		for (int i = 0; kept && i < r->nkeys; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, r->attnums[i] - 1);
			bool		n1;
			bool		n2;
			Datum		v1 = slot_getattr(old, r->attnums[i], &n1);
			Datum		v2 = slot_getattr(now, r->attnums[i], &n2);

			kept = n1 == n2 &&
				(n1 || datumIsEqual(v1, v2, att->attbyval, att->attlen));
		}
		if (!kept && (values[n] = render(r, old)) != NULL)
			indexoids[n++] = r->indexoid;
	}
	for (int i = 0; i < n; i++)
		mmr_unique_claim_record(rel, indexoids[i], values[i], version);
	pfree(indexoids);
	pfree(values);
}

/* Removes the collectable rows of one catalog; returns how many. */
static int64
collect_catalog(Oid catalog, int origin_attno, int32 local_node,
				const MmrPeerHorizon *peers, int npeers)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snapshot;
	CommandId	cid = GetCurrentCommandId(true);
	int64		removed = 0;

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(catalog, RowExclusiveLock);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		MmrVersion	version;
		TM_FailureData tmfd;

		CHECK_FOR_INTERRUPTS();
		version_of_tuple(tup, RelationGetDescr(rel), origin_attno, &version);
		if (!mmr_tombstone_collectable(&version, local_node, peers, npeers))
			continue;
		if (heap_delete(rel, &tup->t_self, cid, InvalidSnapshot, false,
						&tmfd, false) == TM_Ok)
			removed++;
	}
	table_endscan(scan);
	table_close(rel, RowExclusiveLock);
	UnregisterSnapshot(snapshot);
	if (catalog == claim_relid && removed > 0)
		registers_removed = true;
	return removed;
}

/*
 * mmr_tombstone_collect removes the tombstones and registers that no peer
 * can still send a concurrent change for, given the peers' horizons
 * (mmr_peer_horizons); returns how many.  Caller is in a transaction.  A row being changed right now is left for the next round.
 */
int64
mmr_tombstone_collect(int32 local_node, const MmrPeerHorizon *peers, int npeers)
{
	tombstone_catalog_lookup();
	return collect_catalog(tombstone_relid, TOMBSTONE_ORIGIN_ATTNO, local_node,
						   peers, npeers) +
		collect_catalog(claim_relid, CLAIM_ORIGIN_ATTNO, local_node, peers, npeers);
}
