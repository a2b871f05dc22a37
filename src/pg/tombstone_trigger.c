/*-------------------------------------------------------------------------
 *
 * tombstone_trigger.c
 *	  The local-delete trigger that records tombstones, and its installation
 *	  on every replicated user table.
 *
 * NOTES
 *	  mmr.tombstone_trigger() is a row-level AFTER DELETE trigger, AFTER
 *	  DELETE OR UPDATE on tables with a secondary unique index: a local
 *	  UPDATE that moves a unique value, or a DELETE, stores the register of
 *	  the value it leaves (docs/conflicts.md, "Unique keys").  Tables without
 *	  one keep AFTER DELETE, so their local UPDATEs cost nothing.  It is an
 *	  ordinary (ENABLE ORIGIN) trigger, so it does not fire in apply workers
 *	  (session_replication_role = replica): apply records the deletes it
 *	  applies itself, with the peer's version.
 *
 *	  It is installed on every replicated table with a key at group_create
 *	  and group_join, and on tables created or altered later while in a
 *	  group, by the event trigger mmr.tombstone_new_tables() (ENABLE ALWAYS,
 *	  so DDL applied from a peer counts too).  Tables excluded from
 *	  replication, temporary and unlogged ones (never decoded), mmr's own and
 *	  tables without a replica identity index or primary key get none.  The
 *	  trigger is created as the owner of mmr.tombstone: the user creating a
 *	  table may not execute the trigger function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "join.h"
#include "mmr.h"
#include "node_cache.h"
#include "tombstone.h"
#include "truncate.h"

#define TOMBSTONE_TRIGGER_NAME "mmr_tombstone"

PG_FUNCTION_INFO_V1(mmr_tombstone_trigger);
PG_FUNCTION_INFO_V1(mmr_tombstone_new_tables);


/* Set while a join restores a member's schema (see tombstone.h). */
bool		mmr_tombstone_install_suspended = false;

/*
 * mmr.tombstone_trigger(): AFTER DELETE (OR UPDATE) FOR EACH ROW.
 */
Datum
mmr_tombstone_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	bool		is_delete;
	char	   *key;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!(TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mmr.tombstone_trigger() must be fired AFTER DELETE OR UPDATE FOR EACH ROW")));

	/* A parted node keeps its triggers; its deletes need no tombstones. */
	if (mmr_local_node_id() == 0)
		return PointerGetDatum(NULL);

	rel = trigdata->tg_relation;
	is_delete = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event);
	if (mmr_unique_indexes(rel, NULL) > 0)
	{
		TransactionId xmin = HeapTupleHeaderGetXmin(trigdata->tg_trigtuple->t_data);
		MmrVersion	version;

		/* The old row's version; written by this transaction: its own. */
		if (!TransactionIdIsCurrentTransactionId(xmin))
			mmr_version_from_xid(xmin, &version);
		mmr_unique_release(rel, trigdata->tg_trigslot,
						   is_delete ? NULL : trigdata->tg_newslot,
						   TransactionIdIsCurrentTransactionId(xmin) ? NULL : &version);
	}
	if (!is_delete)
		return PointerGetDatum(NULL);

	key = mmr_tombstone_key(rel, trigdata->tg_trigslot);
	if (key != NULL)
		mmr_tombstone_record(rel, key);
	return PointerGetDatum(NULL);
}

/*
 * wants_tombstones tells whether relid gets the trigger, and whether on
 * UPDATE too (*on_update: it has a secondary unique index).
 */
static bool
wants_tombstones(Oid relid, bool *on_update)
{
	HeapTuple	tup;
	Form_pg_class form;
	bool		wanted;
	Relation	rel;

	/* Nothing initdb made: catalogs, information_schema's tables */
	if (relid < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return false;
	form = (Form_pg_class) GETSTRUCT(tup);
	wanted = form->relkind == RELKIND_RELATION &&
		form->relpersistence == RELPERSISTENCE_PERMANENT &&
		form->relnamespace != mmr_schema_oid(false);
	ReleaseSysCache(tup);
	if (!wanted || !mmr_table_is_replicated(relid))
		return false;

	rel = table_open(relid, AccessShareLock);
	wanted = OidIsValid(mmr_tombstone_key_index(rel));
	*on_update = wanted && mmr_unique_indexes(rel, NULL) > 0;
	table_close(rel, AccessShareLock);
	return wanted;
}

/*
 * Does the trigger trigoid fire on UPDATE?  Read from pg_trigger as
 * get_trigger_oid found it (same snapshot), no SQL.
 */
static bool
fires_on_update(Oid trigoid)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData skey;
	HeapTuple	tup;
	int16		tgtype;

	ScanKeyInit(&skey, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(trigoid));
	rel = table_open(TriggerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, TriggerOidIndexId, true, NULL, 1, &skey);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "could not find trigger %u", trigoid);
	tgtype = ((Form_pg_trigger) GETSTRUCT(tup))->tgtype;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return TRIGGER_FOR_UPDATE(tgtype);
}

/*
 * install_on creates the trigger on relid if it wants one and has none, or
 * replaces it when it must fire on UPDATE too (a unique index was added).
 * Caller is connected to SPI and runs as a superuser.
 */
static void
install_on(Oid relid)
{
	Oid			existing = get_trigger_oid(relid, TOMBSTONE_TRIGGER_NAME, true);
	bool		on_update = false;
	char	   *sql;

	if (!wants_tombstones(relid, &on_update) ||
		(OidIsValid(existing) && (!on_update || fires_on_update(existing))))
		return;
	sql = psprintf("CREATE OR REPLACE TRIGGER " TOMBSTONE_TRIGGER_NAME " AFTER DELETE%s ON %s "
				   "FOR EACH ROW EXECUTE FUNCTION mmr.tombstone_trigger()",
				   on_update ? " OR UPDATE" : "",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid)));
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the tombstone trigger on table %u", relid);
	pfree(sql);
	/* TRUNCATE's table tombstone goes with the key tombstones (truncate.h). */
	mmr_truncate_trigger_install(relid);
}

/*
 * install_from_query installs the trigger on each table that query lists
 * (first column: oid; a second one, when true, says it is an index's, whose
 * table is meant; a read-only query would not see this command's index in
 * pg_index), as the owner of mmr's catalogs; for_ddl: the event
 * trigger asks.
 */
static void
install_from_query(const char *query, bool for_ddl)
{
	MmrAsOwner	as_owner;
	List	   *relids = NIL;
	ListCell   *lc;

	mmr_as_owner_enter(&as_owner);

	/*
	 * Not in a database restored from a member's dump: the dump creates the
	 * triggers itself, after the keys its ALTER TABLEs add.  (Only asked for
	 * DDL: group_create and group_join record the identity in the same
	 * statement, which a read-only query would not see yet.)
	 */
	if (for_ddl && mmr_identity_mismatch() != NULL)
	{
		mmr_as_owner_leave(&as_owner);
		return;
	}
	SPI_connect();
	if (SPI_execute(query, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list tables: %s", query);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		is_index = desc->natts > 1 &&
			DatumGetBool(SPI_getbinval(row, desc, 2, &isnull)) && !isnull;
		Datum		d = SPI_getbinval(row, desc, 1, &isnull);

		if (!isnull)
			relids = list_append_unique_oid(relids, is_index ?
								 IndexGetRelation(DatumGetObjectId(d), false) :
								 DatumGetObjectId(d));
	}
	foreach(lc, relids)
		install_on(lfirst_oid(lc));
	SPI_finish();
	mmr_as_owner_leave(&as_owner);
}

/*
 * mmr_tombstone_install_all installs the trigger on every table that wants
 * one (group_create, group_join).
 */
void
mmr_tombstone_install_all(void)
{
	install_from_query("SELECT c.oid FROM pg_catalog.pg_class c "
					   "WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
					   "ORDER BY c.oid", false);
}

/*
 * mmr.tombstone_new_tables(): event trigger on ddl_command_end for CREATE
 * TABLE, CREATE TABLE AS, SELECT INTO and ALTER TABLE (a key added later),
 * and for CREATE INDEX (a unique index added later: its table).
 */
Datum
mmr_tombstone_new_tables(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mmr.tombstone_new_tables() must be called as an event trigger")));

	if (mmr_local_node_id() != 0 && !mmr_tombstone_install_suspended)
		install_from_query("SELECT DISTINCT objid, object_type = 'index' "
						   "FROM pg_catalog.pg_event_trigger_ddl_commands() "
						   "WHERE object_type IN ('table', 'index')", true);
	PG_RETURN_VOID();
}
