/*-------------------------------------------------------------------------
 *
 * write_partition.c
 *	  Write partitioning (SPEC section 3, docs/write_partitioning.md): one
 *	  node writes a table (mmr.set_table_writer), or a column names the
 *	  node that writes each row (mmr.set_row_writer_column).  The rule is
 *	  mmr_write_decide (src/core/write_rules.cpp); this file stores the
 *	  settings and enforces them.
 *
 * NOTES
 *	  Settings live in mmr.write_partition, a replicated catalog keyed by
 *	  the table's name (oids differ between nodes), like the resolvers.
 *
 *	  Enforcement is a C trigger, installed only on tables with a setting,
 *	  so that every other table pays nothing: a BEFORE ROW trigger for
 *	  INSERT, UPDATE and DELETE (it sees both rows of an UPDATE, the rows of
 *	  COPY FROM, MERGE and INSERT ... ON CONFLICT, and is cloned to the
 *	  partitions of a partitioned table, where routed rows arrive) and a
 *	  BEFORE statement trigger for those and TRUNCATE, which refuses a
 *	  table's foreign writer before the first row.  They are ordinary
 *	  triggers (ENABLE ORIGIN), so they do not fire in apply workers, which
 *	  run as session_replication_role = replica: replicated changes are
 *	  never refused.  An AFTER ROW trigger on mmr.write_partition (ENABLE
 *	  ALWAYS) installs and removes them on the node where a setting is made
 *	  and on every node that applies it.  They are created by
 *	  CreateTrigger(), not by SQL, so that no DDL capture sees them: each
 *	  node makes its own.
 *
 *	  The decision itself reads a per-table cache (table_cache.c), dropped
 *	  when mmr.write_partition changes (mmr.catalog_changed invalidates its
 *	  relcache entry, for local and applied changes) and per table when the
 *	  table changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "mmr.h"
#include "node_cache.h"
#include "table_cache.h"

PG_FUNCTION_INFO_V1(mmr_set_table_writer);
PG_FUNCTION_INFO_V1(mmr_set_row_writer_column);
PG_FUNCTION_INFO_V1(mmr_write_partition_check);
PG_FUNCTION_INFO_V1(mmr_write_partition_changed);

/* Columns of mmr.write_partition */
#define Anum_wp_relation_schema 1
#define Anum_wp_relation_name 2
#define Anum_wp_writer_node 3
#define Anum_wp_writer_column 4

#define ROW_TRIGGER_NAME "mmr_write_partition"
#define STATEMENT_TRIGGER_NAME "mmr_write_partition_statement"

/* One row of mmr.write_partition. */
typedef struct WriteSetting
{
	char	   *schema;
	char	   *relname;
	char	   *writer_node;	/* NULL: every node */
	char	   *writer_column;	/* NULL: rows are not owned */
} WriteSetting;

/* What the trigger needs to know about one table (or partition). */
typedef struct TableWriteRule
{
	MmrTableCacheEntry cache;	/* first: relid and valid */
	const WriteSetting *setting;	/* NULL: no rule */
	AttrNumber	owner_attnum;	/* the writer column in this relation */
	FmgrInfo	owner_out;		/* its output function */
} TableWriteRule;

static List *settings = NIL;	/* WriteSetting */

static void keep_setting(HeapTuple tup, TupleDesc desc, void *arg);

static void
forget_settings(void)
{
	settings = NIL;
}

static MmrTableCache rules_cache = {
	"write_partition", sizeof(TableWriteRule), keep_setting, forget_settings
};

static char *
text_or_null(HeapTuple tup, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, desc, &isnull);

	if (isnull)
		return NULL;
	if (TupleDescAttr(desc, attnum - 1)->atttypid == NAMEOID)
		return pstrdup(NameStr(*DatumGetName(d)));
	return TextDatumGetCString(d);
}

/* A row of mmr.write_partition as a WriteSetting (in the current context). */
static WriteSetting *
setting_from_tuple(HeapTuple tup, TupleDesc desc)
{
	WriteSetting *s = palloc0(sizeof(WriteSetting));

	s->schema = text_or_null(tup, desc, Anum_wp_relation_schema);
	s->relname = text_or_null(tup, desc, Anum_wp_relation_name);
	s->writer_node = text_or_null(tup, desc, Anum_wp_writer_node);
	s->writer_column = text_or_null(tup, desc, Anum_wp_writer_column);
	return s;
}

static void
keep_setting(HeapTuple tup, TupleDesc desc, void *arg)
{
	settings = lappend(settings, setting_from_tuple(tup, desc));
}

static const WriteSetting *
find_setting(Oid relid)
{
	char	   *schema = get_namespace_name(get_rel_namespace(relid));
	char	   *relname = get_rel_name(relid);
	ListCell   *lc;

	foreach(lc, settings)
	{
		WriteSetting *s = lfirst(lc);

		if (strcmp(s->schema, schema) == 0 && strcmp(s->relname, relname) == 0)
			return s;
	}
	return NULL;
}

/*
 * build_rule finds rel's setting: its own, else that of the nearest
 * partitioned table it belongs to (rows routed there arrive here).
 */
static void
build_rule(TableWriteRule *entry, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	const WriteSetting *s = find_setting(relid);

	if (s == NULL && rel->rd_rel->relispartition)
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
			if ((s = find_setting(lfirst_oid(lc))) != NULL)
				break;
	}
	entry->setting = s;
	entry->owner_attnum = InvalidAttrNumber;
	if (s != NULL && s->writer_column != NULL)
	{
		Oid			typoutput;
		bool		is_varlena;

		/* Dropped since (on this node): every row is then no node's. */
		entry->owner_attnum = get_attnum(relid, s->writer_column);
		if (entry->owner_attnum != InvalidAttrNumber)
		{
			getTypeOutputInfo(get_atttype(relid, entry->owner_attnum),
							  &typoutput, &is_varlena);
			fmgr_info_cxt(typoutput, &entry->owner_out, CacheMemoryContext);
		}
	}
	entry->cache.valid = true;
}

static TableWriteRule *
table_rule(Relation rel)
{
	TableWriteRule *entry = mmr_table_cache_entry(&rules_cache, RelationGetRelid(rel));

	if (!entry->cache.valid)
		build_rule(entry, rel);
	return entry;
}

static MmrBytes
cstring_bytes(const char *s)
{
	MmrBytes	b = {s, s != NULL ? strlen(s) : 0};

	return b;
}

/* The text of the row's writer column; data NULL for SQL NULL. */
static MmrBytes
row_owner(TableWriteRule *rule, TupleTableSlot *slot)
{
	bool		isnull = true;
	Datum		d = (Datum) 0;

	if (rule->owner_attnum != InvalidAttrNumber)
		d = slot_getattr(slot, rule->owner_attnum, &isnull);
	return cstring_bytes(isnull ? NULL : OutputFunctionCall(&rule->owner_out, d));
}

static void
refuse(MmrWriteVerdict verdict, Relation rel, const TableWriteRule *rule,
	   const char *local, MmrBytes old_owner, MmrBytes new_owner)
{
	const WriteSetting *s = rule->setting;
	char	   *table = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												   RelationGetRelationName(rel));
	const char *owner = verdict == MMR_WRITE_OLD_ROW_FOREIGN ? old_owner.data : new_owner.data;
	const char *which = verdict == MMR_WRITE_OLD_ROW_FOREIGN ? "row" : "new row";

	switch (verdict)
	{
		case MMR_WRITE_ALLOWED:
			return;
		case MMR_WRITE_NOT_TABLE_WRITER:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("table \"%s\" may only be written on node \"%s\"",
							table, s->writer_node),
					 errdetail("This is node \"%s\"; mmr.set_table_writer() made \"%s\" the only writer of the table.",
							   local, s->writer_node),
					 errhint("Write it on node \"%s\": its changes reach every node.",
							 s->writer_node)));
			break;
		case MMR_WRITE_OLD_ROW_FOREIGN:
		case MMR_WRITE_NEW_ROW_FOREIGN:
			if (owner == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("%s of table \"%s\" belongs to no node", which, table),
						 errdetail("Its column \"%s\" is NULL; it names the node that may write the row (mmr.set_row_writer_column()), and this is node \"%s\".",
								   s->writer_column, local)));
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("%s of table \"%s\" belongs to node \"%s\"", which, table, owner),
					 errdetail("Its column \"%s\" names the node that may write the row (mmr.set_row_writer_column()); this is node \"%s\".",
							   s->writer_column, local),
					 errhint("Write this row on node \"%s\".", owner)));
			break;
		case MMR_WRITE_TRUNCATE_OWNED:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot truncate table \"%s\": its rows belong to the nodes that column \"%s\" names",
							table, s->writer_column),
					 errhint("Delete this node's rows instead: DELETE FROM %s WHERE %s = %s.",
							 table, quote_identifier(s->writer_column), quote_literal_cstr(local))));
			break;
	}
}

/*
 * mmr.write_partition_check(): BEFORE INSERT OR UPDATE OR DELETE FOR EACH
 * ROW, and BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE FOR EACH
 * STATEMENT, on tables with a setting.  The statement trigger refuses a
 * statement on a table with another writer before it touches any row (or
 * when it touches none), and TRUNCATE; the row trigger checks the rows.
 */
Datum
mmr_write_partition_check(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TableWriteRule *rule;
	const char *local;
	MmrWriteRule core_rule;
	MmrBytes	old_owner = {NULL, 0};
	MmrBytes	new_owner = {NULL, 0};
	bool		truncate;
	bool		has_old;
	bool		has_new;
	MmrWriteVerdict verdict;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mmr.write_partition_check() must be fired BEFORE")));
	truncate = TRIGGER_FIRED_BY_TRUNCATE(td->tg_event);
	has_old = TRIGGER_FIRED_FOR_ROW(td->tg_event) && !TRIGGER_FIRED_BY_INSERT(td->tg_event);
	has_new = TRIGGER_FIRED_FOR_ROW(td->tg_event) && !TRIGGER_FIRED_BY_DELETE(td->tg_event);

	/*
	 * A parted node keeps the triggers, and a joining one may not know its
	 * name yet: no rule for them.  Replicated changes pass.
	 */
	if (replorigin_session_origin == InvalidRepOriginId &&
		(local = mmr_local_node_name()) != NULL &&
		(rule = table_rule(td->tg_relation))->setting != NULL)
	{
		core_rule.table_writer = cstring_bytes(rule->setting->writer_node);
		core_rule.rows_owned = rule->setting->writer_column != NULL;
		if (core_rule.rows_owned && has_old)
			old_owner = row_owner(rule, td->tg_trigslot);
		if (core_rule.rows_owned && has_new)
			new_owner = row_owner(rule, td->tg_newslot != NULL && TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
								  td->tg_newslot : td->tg_trigslot);
		verdict = mmr_write_decide(&core_rule, cstring_bytes(local), truncate,
								   has_old ? &old_owner : NULL,
								   has_new ? &new_owner : NULL);
		refuse(verdict, td->tg_relation, rule, local, old_owner, new_owner);
	}

	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		return PointerGetDatum(NULL);
	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
}

/*
 * Installing and removing the triggers.
 */

static void
create_check_trigger(Oid relid, const char *name, bool row, int16 events)
{
	CreateTrigStmt *stmt = makeNode(CreateTrigStmt);

	stmt->trigname = (char *) name;
	stmt->row = row;
	stmt->timing = TRIGGER_TYPE_BEFORE;
	stmt->events = events;
	stmt->funcname = list_make2(makeString(MMR_SCHEMA_NAME), makeString("write_partition_check"));
	CreateTrigger(stmt, "-- mmr write partitioning", relid, InvalidOid, InvalidOid,
				  InvalidOid, LookupFuncName(stmt->funcname, 0, NULL, false), InvalidOid,
				  NULL, false, false);
}

static void
drop_trigger(Oid relid, const char *name)
{
	ObjectAddress trigger;

	trigger.classId = TriggerRelationId;
	trigger.objectId = get_trigger_oid(relid, name, true);
	trigger.objectSubId = 0;
	if (OidIsValid(trigger.objectId))
		performDeletion(&trigger, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
}

/*
 * sync_triggers gives the table (if it exists here) the check triggers
 * when it has a setting, and takes them away when it has none.
 */
static void
sync_triggers(const char *schema, const char *relname, bool wanted)
{
	Oid			nspid = get_namespace_oid(schema, true);
	Oid			relid = OidIsValid(nspid) ? get_relname_relid(relname, nspid) : InvalidOid;
	char		relkind = OidIsValid(relid) ? get_rel_relkind(relid) : '\0';

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		return;
	if (!wanted)
	{
		drop_trigger(relid, ROW_TRIGGER_NAME);
		drop_trigger(relid, STATEMENT_TRIGGER_NAME);
	}
	else
	{
		if (!OidIsValid(get_trigger_oid(relid, ROW_TRIGGER_NAME, true)))
			create_check_trigger(relid, ROW_TRIGGER_NAME, true,
								 TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE);
		if (!OidIsValid(get_trigger_oid(relid, STATEMENT_TRIGGER_NAME, true)))
			create_check_trigger(relid, STATEMENT_TRIGGER_NAME, false,
								 TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE |
								 TRIGGER_TYPE_DELETE | TRIGGER_TYPE_TRUNCATE);
	}
	CommandCounterIncrement();
}

/*
 * mmr.write_partition_changed(): AFTER INSERT OR UPDATE OR DELETE FOR EACH
 * ROW on mmr.write_partition, ENABLE ALWAYS (it fires for settings applied
 * from peers too).
 */
Datum
mmr_write_partition_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	WriteSetting *s;
	HeapTuple	tup;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mmr.write_partition_changed() must be fired AFTER ... FOR EACH ROW")));

	desc = RelationGetDescr(td->tg_relation);
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	s = setting_from_tuple(tup, desc);
	sync_triggers(s->schema, s->relname,
				  !TRIGGER_FIRED_BY_DELETE(td->tg_event) &&
				  (s->writer_node != NULL || s->writer_column != NULL));
	return PointerGetDatum(NULL);
}

/*
 * The SQL functions.
 */

/*
 * check_table accepts tables and partitioned tables that are neither
 * temporary nor mmr's own.
 */
static void
check_table(FunctionCallInfo fcinfo)
{
	Oid			relid;
	char		relkind;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be null")));
	relid = PG_GETARG_OID(0);
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errdetail("Write partitioning is set for tables.")));
	if (get_rel_namespace(relid) == mmr_schema_oid(false))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition the writes of mmr catalog \"%s\"",
						get_rel_name(relid))));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition the writes of temporary table \"%s\"",
						get_rel_name(relid)),
				 errdetail("Temporary tables are not replicated.")));
}

/*
 * store_setting sets one column of the table's row of mmr.write_partition
 * (NULL: clears it) and removes a row left with neither setting.  The row
 * replicates to every peer; the trigger on the catalog does the rest.
 */
static void
store_setting(Oid relid, const char *column, const char *value)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = "   ";
	char	   *sql;
	int			ret;

	values[0] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(relid)));
	values[1] = CStringGetTextDatum(get_rel_name(relid));
	values[2] = value ? CStringGetTextDatum(value) : (Datum) 0;
	nulls[2] = value ? ' ' : 'n';

	SPI_connect();
	if (value != NULL)
		sql = psprintf("INSERT INTO mmr.write_partition (relation_schema, relation_name, %s) "
					   "VALUES ($1, $2, $3) ON CONFLICT (relation_schema, relation_name) "
					   "DO UPDATE SET %s = EXCLUDED.%s", column, column, column);
	else
		sql = psprintf("UPDATE mmr.write_partition SET %s = $3 "
					   "WHERE relation_schema = $1 AND relation_name = $2", column);
	ret = SPI_execute_with_args(sql, 3, types, values, nulls, false, 0);
	if (ret >= 0)
		ret = SPI_execute_with_args("DELETE FROM mmr.write_partition "
									"WHERE relation_schema = $1 AND relation_name = $2 "
									"AND writer_node IS NULL AND writer_column IS NULL",
									2, types, values, nulls, false, 0);
	if (ret < 0)
		elog(ERROR, "could not write mmr.write_partition: %s", SPI_result_code_string(ret));
	SPI_finish();
}

/* Is node_name a node of the group (not parted)? */
static bool
node_exists(const char *node_name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(node_name)};
	bool		exists;

	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM mmr.node WHERE node_name = $1 AND status <> 'parted'",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read mmr.node");
	exists = SPI_processed > 0;
	SPI_finish();
	return exists;
}

/*
 * mmr.set_table_writer(relation regclass, node_name text)
 */
Datum
mmr_set_table_writer(PG_FUNCTION_ARGS)
{
	char	   *node = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));

	check_table(fcinfo);
	if (node != NULL && !node_exists(node))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" does not exist", node),
				 errhint("mmr.nodes lists the nodes of the group.")));
	store_setting(PG_GETARG_OID(0), "writer_node", node);
	PG_RETURN_VOID();
}

/*
 * mmr.set_row_writer_column(relation regclass, column_name name)
 */
Datum
mmr_set_row_writer_column(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *column = PG_ARGISNULL(1) ? NULL : pstrdup(NameStr(*PG_GETARG_NAME(1)));

	check_table(fcinfo);
	relid = PG_GETARG_OID(0);
	if (column != NULL && get_attnum(relid, column) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, get_rel_name(relid))));
	store_setting(relid, "writer_column", column);
	PG_RETURN_VOID();
}
