/*-------------------------------------------------------------------------
 *
 * truncate_tombstone.c
 *	  Table tombstones of TRUNCATE: one row of mmr.truncate_tombstone per
 *	  table a TRUNCATE emptied, local or applied, until no change concurrent
 *	  with it can still arrive (docs/conflicts.md, "TRUNCATE").
 *
 * NOTES
 *	  As for key tombstones (tombstone.c), the row is written in the
 *	  transaction of the truncate, so its xmin's commit_ts gives the
 *	  truncate's origin and commit time; recording an existing table
 *	  updates the row, which gives it the new truncate's xmin.
 *
 *	  Local TRUNCATEs are recorded by mmr.truncate_tombstone_trigger(), a
 *	  statement-level AFTER TRUNCATE trigger installed next to the key
 *	  tombstones' trigger (so on the same tables).  It is ENABLE ORIGIN: it
 *	  does not fire under apply, which records the truncates it applies
 *	  itself, with the peer's version.  A TRUNCATE ... CASCADE fires it on
 *	  every table it empties.
 *
 *	  The table holds a row per table at most and lives a few seconds, so
 *	  recording and collecting go through SPI; the lookup, asked by apply
 *	  for changes whose row is missing, reads the primary key index.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "mmr.h"
#include "node_cache.h"
#include "shmem.h"
#include "tombstone.h"
#include "truncate.h"

#define TRUNCATE_TRIGGER_NAME "mmr_truncate_tombstone"

PG_FUNCTION_INFO_V1(mmr_truncate_tombstone_trigger);

/* The catalog's oid and primary key, looked up once per backend. */
static Oid	catalog_relid = InvalidOid;
static Oid	catalog_index = InvalidOid;

static void
catalog_lookup(void)
{
	Relation	rel;

	if (OidIsValid(catalog_relid) &&
		get_rel_relkind(catalog_relid) == RELKIND_RELATION)
		return;
	catalog_relid = mmr_catalog_relid("truncate_tombstone");
	if (!OidIsValid(catalog_relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("mmr.truncate_tombstone does not exist"),
				 errhint("Install the mmr extension in this database.")));
	rel = table_open(catalog_relid, AccessShareLock);
	catalog_index = RelationGetPrimaryKeyIndex(rel);
	table_close(rel, AccessShareLock);
}

/* Scans the catalog's index for relid (any table when !OidIsValid(relid)). */
static bool
catalog_scan(Oid relid, Snapshot snapshot, TransactionId *xmin)
{
	Relation	catalog;
	SysScanDesc scan;
	ScanKeyData skey;
	HeapTuple	tup;
	bool		found;

	catalog_lookup();
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	catalog = table_open(catalog_relid, AccessShareLock);
	scan = systable_beginscan(catalog, catalog_index, true, snapshot,
							  OidIsValid(relid) ? 1 : 0, &skey);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found && xmin != NULL)
		*xmin = HeapTupleHeaderGetXmin(tup->t_data);
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return found;
}

/*
 * mmr_truncate_tombstone_find: a truncate committed by anyone, or by this
 * transaction, counts.
 */
bool
mmr_truncate_tombstone_find(Oid relid, TransactionId *xmin)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	bool		found = catalog_scan(relid, snapshot, xmin);

	UnregisterSnapshot(snapshot);
	return found;
}

/* mmr_truncate_tombstone_any: a dirty snapshot, for apply's shortcut. */
bool
mmr_truncate_tombstone_any(void)
{
	SnapshotData dirty;

	InitDirtySnapshot(dirty);
	return catalog_scan(InvalidOid, &dirty, NULL);
}

/*
 * mmr_truncate_tombstone_record upserts as the owner of mmr's catalogs: a
 * local TRUNCATE runs as whoever truncates.  Bumps the shared count of
 * truncate tombstone writes, so that apply's shortcut looks again.
 */
void
mmr_truncate_tombstone_record(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	MmrAsOwner	as_owner;
	int			ret;

	mmr_as_owner_enter(&as_owner);
	SPI_connect();
	ret = SPI_execute_with_args("INSERT INTO mmr.truncate_tombstone AS t (relation) "
								"VALUES ($1) ON CONFLICT (relation) "
								"DO UPDATE SET relation = EXCLUDED.relation",
								1, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not record a truncate tombstone: %s",
			 SPI_result_code_string(ret));
	/* After the insert, as mmr_note_tombstone_write: no reader misses it. */
	pg_atomic_fetch_add_u64(&MmrShmem->truncate_tombstone_writes, 1);
	SPI_finish();
	mmr_as_owner_leave(&as_owner);
}

/*
 * mmr.truncate_tombstone_trigger(): AFTER TRUNCATE FOR EACH STATEMENT.
 */
Datum
mmr_truncate_tombstone_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mmr.truncate_tombstone_trigger() must be fired AFTER TRUNCATE")));

	/* A parted node keeps its triggers; its truncates need no tombstones. */
	if (mmr_local_node_id() != 0)
		mmr_truncate_tombstone_record(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * mmr_truncate_trigger_install: caller is connected to SPI, runs as the
 * owner of mmr's catalogs and has checked that relid wants tombstones.
 */
void
mmr_truncate_trigger_install(Oid relid)
{
	char	   *sql;

	if (OidIsValid(get_trigger_oid(relid, TRUNCATE_TRIGGER_NAME, true)))
		return;
	sql = psprintf("CREATE TRIGGER " TRUNCATE_TRIGGER_NAME " AFTER TRUNCATE ON %s "
				   "FOR EACH STATEMENT EXECUTE FUNCTION mmr.truncate_tombstone_trigger()",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid)));
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the truncate tombstone trigger on table %u", relid);
	pfree(sql);
}

/*
 * mmr_truncate_tombstone_collect removes the tombstones that no peer can
 * still send a concurrent change for, by the key tombstones' rule.  A row
 * replaced since it was read (another xmin) is left for the next round.
 * Caller is in a transaction.
 */
int64
mmr_truncate_tombstone_collect(int32 local_node, const MmrPeerHorizon *peers, int npeers)
{
	int64		removed = 0;
	uint64		nrows;
	Oid		   *relids;
	TransactionId *xmins;
	MmrAsOwner	as_owner;

	/* Not under the database's or role's search_path either. */
	mmr_as_owner_enter(&as_owner);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute("SELECT relation, xmin FROM mmr.truncate_tombstone", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.truncate_tombstone");
	nrows = SPI_processed;
	relids = palloc(sizeof(Oid) * (nrows + 1));
	xmins = palloc(sizeof(TransactionId) * (nrows + 1));
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;

		relids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1, &isnull));
		xmins[i] = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (uint64 i = 0; i < nrows; i++)
	{
		Oid			types[2] = {OIDOID, XIDOID};
		Datum		values[2] = {ObjectIdGetDatum(relids[i]), TransactionIdGetDatum(xmins[i])};
		MmrVersion	version;

		mmr_version_from_xid(xmins[i], &version);
		if (!mmr_tombstone_collectable(&version, local_node, peers, npeers))
			continue;
		if (SPI_execute_with_args("DELETE FROM mmr.truncate_tombstone "
								  "WHERE relation = $1 AND xmin = $2",
								  2, types, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not collect a truncate tombstone");
		removed += SPI_processed;
	}
	PopActiveSnapshot();
	SPI_finish();
	mmr_as_owner_leave(&as_owner);
	return removed;
}
