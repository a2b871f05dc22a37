/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Access to mmr's own catalogs (the tables of schema mmr).
 *
 * NOTES
 *	  These lookups also run inside logical decoding, where the catalog
 *	  snapshot is the historic one: mmr.table_settings is a user catalog
 *	  table for that reason, so the output plugin sees each table's setting
 *	  as of the transaction it decodes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "mmr.h"
#include "tombstone.h"

PG_FUNCTION_INFO_V1(mmr_set_table_replicated);
PG_FUNCTION_INFO_V1(mmr_forget_dropped_tables);

/*
 * mmr_schema_oid returns the oid of schema mmr (InvalidOid if missing and
 * missing_ok).
 */
Oid
mmr_schema_oid(bool missing_ok)
{
	return get_namespace_oid(MMR_SCHEMA_NAME, missing_ok);
}

/*
 * mmr_catalog_relid returns the oid of mmr.<relname>, or InvalidOid when
 * the extension is not installed in this database.
 */
Oid
mmr_catalog_relid(const char *relname)
{
	Oid			nspid = mmr_schema_oid(true);

	if (!OidIsValid(nspid))
		return InvalidOid;
	return get_relname_relid(relname, nspid);
}

/*
 * mmr_catalog_read_all passes every row of mmr.<relname> to row_fn, read
 * with the latest snapshot, so that a cache reloaded right after an
 * invalidation sees the change.  For the small replicated settings
 * catalogs.  Returns the catalog's oid, InvalidOid when the extension is
 * not installed (row_fn is then never called).
 */
Oid
mmr_catalog_read_all(const char *relname, MmrCatalogRowFn row_fn, void *arg)
{
	Oid			relid = mmr_catalog_relid(relname);
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snapshot;

	if (!OidIsValid(relid))
		return InvalidOid;
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		row_fn(tup, RelationGetDescr(rel), arg);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return relid;
}

/*
 * mmr_table_is_replicated tells whether a user table's changes are sent:
 * true unless mmr.table_settings says otherwise.
 */
bool
mmr_table_is_replicated(Oid relid)
{
	Oid			settings_relid = mmr_catalog_relid("table_settings");
	Relation	settings;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	bool		replicated = true;

	if (!OidIsValid(settings_relid))
		return true;

	settings = table_open(settings_relid, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(settings,
							  mmr_catalog_relid("table_settings_pkey"),
							  true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, 2, RelationGetDescr(settings),
									 &isnull);

		replicated = isnull || DatumGetBool(d);
	}
	systable_endscan(scan);
	table_close(settings, AccessShareLock);
	return replicated;
}

/*
 * mmr.set_table_replicated(relation regclass, replicated boolean)
 *
 * Excludes a table from replication or includes it again.  The relcache
 * invalidation makes the output plugin re-read the setting at exactly this
 * transaction's place in the stream.
 */
Datum
mmr_set_table_replicated(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bool		replicated = PG_GETARG_BOOL(1);
	char		relkind = get_rel_relkind(relid);
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	int			ret;
	ListCell   *lc;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errdetail("Only tables are replicated.")));
	if (get_rel_namespace(relid) == mmr_schema_oid(false))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change replication of mmr catalog \"%s\"",
						get_rel_name(relid))));

	/* A user catalog table takes no ON CONFLICT: update, else insert. */
	SPI_connect();
	if (replicated)
		ret = SPI_execute_with_args("DELETE FROM mmr.table_settings WHERE relation = $1",
									1, argtypes, args, NULL, false, 0);
	else
	{
		ret = SPI_execute_with_args("UPDATE mmr.table_settings SET replicated = false "
									"WHERE relation = $1",
									1, argtypes, args, NULL, false, 0);
		if (ret >= 0 && SPI_processed == 0)
			ret = SPI_execute_with_args("INSERT INTO mmr.table_settings (relation, replicated) "
										"VALUES ($1, false)",
										1, argtypes, args, NULL, false, 0);
	}
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	SPI_finish();

	/* Partitions are decoded as themselves: they must re-read it too. */
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		CacheInvalidateRelcacheByRelid(lfirst_oid(lc));
	PG_RETURN_VOID();
}

/*
 * mmr_as_owner_enter makes this backend run as the owner of mmr's catalogs
 * (who installed the extension), with search_path = pg_catalog, pg_temp:
 * the SQL mmr runs for whoever writes or alters a table must not resolve
 * an operator or function in a schema the caller chose (as PostgreSQL
 * does for security-restricted operations).  Plans prepared inside are
 * prepared, and replanned, under that path.  An error needs no leave: the
 * (sub)transaction's abort restores the user and the settings.
 */
void
mmr_as_owner_enter(MmrAsOwner *scope)
{
	Oid			owner = mmr_tombstone_owner();

	GetUserIdAndSecContext(&scope->save_userid, &scope->save_sec_context);
	SetUserIdAndSecContext(owner, scope->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE);
	scope->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/* mmr_as_owner_leave restores the user and search_path enter saved. */
void
mmr_as_owner_leave(MmrAsOwner *scope)
{
	AtEOXact_GUC(true, scope->save_nestlevel);
	SetUserIdAndSecContext(scope->save_userid, scope->save_sec_context);
}

/*
 * mmr.forget_dropped_tables(): event trigger on sql_drop (ENABLE ALWAYS).
 * A dropped table's row of mmr.table_settings goes with it: its oid may
 * be given to a new table, which must not inherit the exclusion.  It runs
 * as the owner of mmr's catalogs: whoever drops a table may not write them.
 */
Datum
mmr_forget_dropped_tables(PG_FUNCTION_ARGS)
{
	MmrAsOwner	as_owner;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mmr.forget_dropped_tables() must be called as an event trigger")));

	/* DROP EXTENSION mmr drops the catalog too. */
	if (!OidIsValid(mmr_catalog_relid("table_settings")))
		PG_RETURN_VOID();
	mmr_as_owner_enter(&as_owner);
	SPI_connect();
	if (SPI_execute("DELETE FROM mmr.table_settings s "
					"USING pg_catalog.pg_event_trigger_dropped_objects() d "
					"WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
					"AND d.objsubid = 0 AND s.relation = d.objid",
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not forget the settings of dropped tables");
	SPI_finish();
	mmr_as_owner_leave(&as_owner);
	PG_RETURN_VOID();
}
