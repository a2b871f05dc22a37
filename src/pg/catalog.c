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
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "mmr.h"

PG_FUNCTION_INFO_V1(mmr_set_table_replicated);

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
