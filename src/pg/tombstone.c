/*-------------------------------------------------------------------------
 *
 * tombstone.c
 *	  Delete tombstones: one row of mmr.tombstone (relation, key) per
 *	  deleted key, and their collection.
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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
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

/* How each table's key is rendered. */
typedef struct TombstoneKeyInfo
{
	Oid			relid;			/* hash key */
	bool		valid;
	int			nkeys;			/* 0: no replica identity index, no key */
	AttrNumber	attnums[INDEX_MAX_KEYS];
	FmgrInfo	output[INDEX_MAX_KEYS];
	bool		fixed_settings; /* some key type's output depends on GUCs */
} TombstoneKeyInfo;

static HTAB *key_infos = NULL;

/* mmr.tombstone itself, looked up once per extension lifetime */
static Oid	tombstone_relid = InvalidOid;
static Oid	tombstone_index = InvalidOid;
static Oid	tombstone_owner = InvalidOid;
static SPIPlanPtr record_plan = NULL;

static void
tombstone_relcache_callback(Datum arg, Oid relid)
{
	TombstoneKeyInfo *info;

	if (!OidIsValid(relid) || relid == tombstone_relid)
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
}

static void
tombstone_catalog_lookup(void)
{
	Relation	rel;

	tombstone_cache_init();
	if (OidIsValid(tombstone_relid))
		return;
	tombstone_relid = mmr_catalog_relid("tombstone");
	if (!OidIsValid(tombstone_relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("mmr.tombstone does not exist"),
				 errhint("Install the mmr extension in this database.")));
	rel = table_open(tombstone_relid, AccessShareLock);
	tombstone_index = RelationGetPrimaryKeyIndex(rel);
	tombstone_owner = rel->rd_rel->relowner;
	table_close(rel, AccessShareLock);
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

static void
build_key_info(TombstoneKeyInfo *info, Relation rel)
{
	Oid			indexid = mmr_tombstone_key_index(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	Relation	index;

	info->nkeys = 0;
	info->fixed_settings = false;
	info->valid = true;
	if (!OidIsValid(indexid))
		return;

	index = index_open(indexid, AccessShareLock);
	for (int i = 0; i < index->rd_index->indnkeyatts; i++)
	{
		AttrNumber	attnum = index->rd_index->indkey.values[i];
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		Oid			func;
		bool		is_varlena;

		info->attnums[i] = attnum;
		getTypeOutputInfo(att->atttypid, &func, &is_varlena);
		fmgr_info_cxt(func, &info->output[i], CacheMemoryContext);
		if (!output_is_fixed(att->atttypid))
			info->fixed_settings = true;
	}
	info->nkeys = index->rd_index->indnkeyatts;
	index_close(index, AccessShareLock);
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
 * mmr_tombstone_key renders the key of the row in slot: the value itself
 * for a one-column key, (v1,v2,...) for more.
 */
char *
mmr_tombstone_key(Relation rel, TupleTableSlot *slot)
{
	Oid			relid = RelationGetRelid(rel);
	TombstoneKeyInfo *info;
	bool		found;
	StringInfoData buf;
	int			nestlevel = -1;

	tombstone_cache_init();
	info = hash_search(key_infos, &relid, HASH_ENTER, &found);
	if (!found || !info->valid)
		build_key_info(info, rel);
	if (info->nkeys == 0)
		return NULL;

	if (info->fixed_settings)
	{
		nestlevel = NewGUCNestLevel();
		set_fixed("DateStyle", "ISO, YMD");
		set_fixed("IntervalStyle", "postgres");
		set_fixed("TimeZone", "UTC");
		set_fixed("extra_float_digits", "3");
		set_fixed("bytea_output", "hex");
	}

	initStringInfo(&buf);
	if (info->nkeys > 1)
		appendStringInfoChar(&buf, '(');
	for (int i = 0; i < info->nkeys; i++)
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, info->attnums[i], &isnull);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (isnull)
			continue;			/* replica identity columns are NOT NULL */
		if (info->nkeys > 1)
			append_key_part(&buf, OutputFunctionCall(&info->output[i], value));
		else
			appendStringInfoString(&buf, OutputFunctionCall(&info->output[i], value));
	}
	if (info->nkeys > 1)
		appendStringInfoChar(&buf, ')');

	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
	return buf.data;
}

/*
 * mmr_tombstone_find looks the key up with the latest snapshot: a delete
 * committed by anyone, or by this transaction, counts.
 */
bool
mmr_tombstone_find(Relation rel, const char *key, MmrVersion *version)
{
	Relation	tombstones;
	SysScanDesc scan;
	ScanKeyData skey[2];
	HeapTuple	tup;
	Snapshot	snapshot;
	bool		found;

	tombstone_catalog_lookup();
	ScanKeyInit(&skey[0], 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	ScanKeyInit(&skey[1], 2, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(key));

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	tombstones = table_open(tombstone_relid, AccessShareLock);
	scan = systable_beginscan(tombstones, tombstone_index, true, snapshot, 2, skey);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found)
		mmr_version_from_xid(HeapTupleHeaderGetXmin(tup->t_data), version);
	systable_endscan(scan);
	table_close(tombstones, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return found;
}

/*
 * mmr_tombstone_any tells whether rel has any tombstone, committed or being
 * written (a dirty snapshot), for apply's per-table shortcut (see
 * MmrShmemData.tombstone_writes).
 */
bool
mmr_tombstone_any(Relation rel)
{
	Relation	tombstones;
	SysScanDesc scan;
	ScanKeyData skey;
	SnapshotData dirty;
	bool		found;

	tombstone_catalog_lookup();
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	InitDirtySnapshot(dirty);
	tombstones = table_open(tombstone_relid, AccessShareLock);
	scan = systable_beginscan(tombstones, tombstone_index, true, &dirty, 1, &skey);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(tombstones, AccessShareLock);
	return found;
}

void
mmr_tombstone_record(Relation rel, const char *key)
{
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	Oid			save_userid;
	int			save_sec_context;
	int			ret;

	tombstone_catalog_lookup();
	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = CStringGetTextDatum(key);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tombstone_owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	if (record_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("INSERT INTO mmr.tombstone AS t (relation, key) "
									   "VALUES ($1, $2) ON CONFLICT (relation, key) "
									   "DO UPDATE SET key = EXCLUDED.key",
									   2, types);

		if (plan == NULL)
			elog(ERROR, "could not prepare the tombstone insert: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		record_plan = plan;
	}
	ret = SPI_execute_plan(record_plan, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not record a tombstone: %s", SPI_result_code_string(ret));
	mmr_note_tombstone_write();
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * mmr_tombstone_collect removes the tombstones that no peer can still send
 * a concurrent change for; returns how many.  Caller is in a transaction.
 * A tombstone being changed right now is left for the next round.
 */
int64
mmr_tombstone_collect(void)
{
	static MmrHorizonEntry storage[MMR_MAX_HORIZON * MMR_MAX_HORIZON];
	MmrPeerHorizon peers[MMR_MAX_HORIZON];
	int			npeers;
	int32		local_node = mmr_local_node_id();
	Relation	tombstones;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snapshot;
	CommandId	cid = GetCurrentCommandId(true);
	int64		removed = 0;

	if (local_node == 0)
		return 0;
	tombstone_catalog_lookup();
	npeers = mmr_peer_horizons(MyDatabaseId, peers, storage, MMR_MAX_HORIZON);

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	tombstones = table_open(tombstone_relid, RowExclusiveLock);
	scan = table_beginscan(tombstones, snapshot, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		MmrVersion	version;
		TM_FailureData tmfd;

		CHECK_FOR_INTERRUPTS();
		mmr_version_from_xid(HeapTupleHeaderGetXmin(tup->t_data), &version);
		if (!mmr_tombstone_collectable(&version, local_node, peers, npeers))
			continue;
		if (heap_delete(tombstones, &tup->t_self, cid, InvalidSnapshot, false,
						&tmfd, false) == TM_Ok)
			removed++;
	}
	table_endscan(scan);
	table_close(tombstones, RowExclusiveLock);
	UnregisterSnapshot(snapshot);
	return removed;
}
