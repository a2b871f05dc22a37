/*-------------------------------------------------------------------------
 *
 * resolvers.c
 *	  Which resolver decides each conflict type of a table, and the SQL
 *	  functions that set resolvers and node priorities (SPEC section 3).
 *
 * NOTES
 *	  mmr.conflict_resolver and mmr.node are replicated catalogs: a setting
 *	  made on one node reaches every node, so all nodes decide alike.  The
 *	  relation is stored by name and a custom function by its qualified
 *	  signature, because oids differ between nodes; both are resolved here
 *	  on each node.
 *
 *	  The per-table answer is cached (table_cache.c).  The cache is dropped
 *	  when mmr.conflict_resolver changes (its mmr.catalog_changed trigger
 *	  invalidates the catalog's relcache entry, for local and applied
 *	  changes), when a function is created or dropped, and an entry when its
 *	  table changes; an entry built under another value of
 *	  mmr.default_conflict_resolver is rebuilt.  So a change takes effect at
 *	  the next conflict, without restarting workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "mmr.h"
#include "resolvers.h"
#include "table_cache.h"

PG_FUNCTION_INFO_V1(mmr_set_conflict_resolver);
PG_FUNCTION_INFO_V1(mmr_set_conflict_resolver_function);
PG_FUNCTION_INFO_V1(mmr_set_node_priority);

/* Columns of mmr.conflict_resolver */
#define Anum_cr_relation_schema 1
#define Anum_cr_relation_name 2
#define Anum_cr_conflict_type 3
#define Anum_cr_resolver 4
#define Anum_cr_resolver_function 5

#define ALL_TYPES "*"

/* One row of mmr.conflict_resolver. */
typedef struct ResolverSetting
{
	char	   *schema;
	char	   *relname;
	int			conflict_type;	/* 0: every type ('*') */
	int			resolver;		/* MmrResolverKind; CUSTOM with function */
	char	   *function;		/* qualified signature, or NULL */
} ResolverSetting;

typedef struct TableResolversEntry
{
	MmrTableCacheEntry cache;	/* first: relid and valid */
	int			built_with_default; /* mmr_default_conflict_resolver then */
	MmrTableResolvers r;
} TableResolversEntry;

static List *settings = NIL;	/* ResolverSetting */
static bool proc_callback_registered = false;

static void keep_setting(HeapTuple tup, TupleDesc desc, void *arg);

static void
forget_settings(void)
{
	settings = NIL;
}

static MmrTableCache resolvers_cache = {
	"conflict_resolver", sizeof(TableResolversEntry), keep_setting, forget_settings
};

/* A function created or dropped may be a resolver set by name. */
static void
resolvers_proc_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	mmr_table_cache_invalidate_all(&resolvers_cache);
}

static void
load_settings(void)
{
	if (!proc_callback_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, resolvers_proc_callback, (Datum) 0);
		proc_callback_registered = true;
	}
	mmr_table_cache_load(&resolvers_cache);
}

static char *
text_attr(HeapTuple tup, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * keep_setting keeps one row of mmr.conflict_resolver.  A name this node does
 * not know (a newer peer's) becomes the error resolver: stopping is safer
 * than deciding differently.
 */
static void
keep_setting(HeapTuple tup, TupleDesc desc, void *arg)
{
	ResolverSetting *s = palloc0(sizeof(ResolverSetting));
	char	   *type = text_attr(tup, desc, Anum_cr_conflict_type);
	char	   *resolver = text_attr(tup, desc, Anum_cr_resolver);

	s->schema = text_attr(tup, desc, Anum_cr_relation_schema);
	s->relname = text_attr(tup, desc, Anum_cr_relation_name);
	s->function = text_attr(tup, desc, Anum_cr_resolver_function);
	if (strcmp(type, ALL_TYPES) == 0)
		s->conflict_type = 0;
	else if ((s->conflict_type = mmr_conflict_type_from_name(type)) <= 0)
		return;					/* a type this node does not know */
	if (s->function != NULL)
		s->resolver = MMR_RESOLVER_CUSTOM;
	else if ((s->resolver = mmr_resolver_from_name(resolver)) < 0 ||
			 s->resolver == MMR_RESOLVER_CUSTOM)
		s->resolver = MMR_RESOLVER_ERROR;
	settings = lappend(settings, s);
}

static const ResolverSetting *
find_setting(const char *schema, const char *relname, int conflict_type)
{
	ListCell   *lc;

	foreach(lc, settings)
	{
		ResolverSetting *s = lfirst(lc);

		if (s->conflict_type == conflict_type &&
			strcmp(s->schema, schema) == 0 && strcmp(s->relname, relname) == 0)
			return s;
	}
	return NULL;
}

/*
 * lookup_function finds a custom resolver by its stored signature;
 * InvalidOid when this node has no such function (mmr_call_custom_resolver
 * then raises the error, at the conflict).
 */
static Oid
lookup_function(const char *signature)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(signature);
	fcinfo->args[0].isnull = false;
	result = to_regprocedure(fcinfo);
	return fcinfo->isnull ? InvalidOid : DatumGetObjectId(result);
}

/*
 * resolver_for picks the resolver of one conflict type from the settings of
 * the tables in names (the table, then the partitioned tables it belongs
 * to, nearest first): for each, (table, type) then (table, '*').  A
 * function is taken only for the types a custom resolver may decide; the
 * others go on down the list, and end at the GUC.
 */
static void
resolver_for(int type, List *names, TableResolversEntry *entry)
{
	ListCell   *lc;

	entry->r.resolvers[type] = mmr_default_conflict_resolver;
	entry->r.functions[type] = InvalidOid;
	if (type == MMR_CONFLICT_NONE)
		return;
	foreach(lc, names)
	{
		List	   *name = lfirst(lc);
		const char *schema = linitial(name);
		const char *relname = lsecond(name);
		const ResolverSetting *candidates[2];

		candidates[0] = find_setting(schema, relname, type);
		candidates[1] = find_setting(schema, relname, 0);
		for (int i = 0; i < lengthof(candidates); i++)
		{
			const ResolverSetting *s = candidates[i];

			if (s == NULL)
				continue;
			if (s->function == NULL)
			{
				entry->r.resolvers[type] = s->resolver;
				return;
			}
			if (mmr_conflict_custom_allowed(type))
			{
				entry->r.resolvers[type] = MMR_RESOLVER_CUSTOM;
				entry->r.functions[type] = lookup_function(s->function);
				return;
			}
		}
	}
}

static List *
qualified_name(Oid relid)
{
	return list_make2(get_namespace_name(get_rel_namespace(relid)),
					  get_rel_name(relid));
}

/*
 * build_entry computes rel's resolvers.  Apply works on partitions, so a
 * partition without settings of its own takes its partitioned table's.
 */
static void
build_entry(TableResolversEntry *entry, Relation rel)
{
	List	   *names = list_make1(qualified_name(RelationGetRelid(rel)));
	ListCell   *lc;

	if (rel->rd_rel->relispartition)
		foreach(lc, get_partition_ancestors(RelationGetRelid(rel)))
			names = lappend(names, qualified_name(lfirst_oid(lc)));

	entry->built_with_default = mmr_default_conflict_resolver;
	for (int type = 0; type < MMR_CONFLICT_NTYPES; type++)
		resolver_for(type, names, entry);
	list_free_deep(names);
	entry->cache.valid = true;
}

const MmrTableResolvers *
mmr_table_resolvers(Relation rel)
{
	TableResolversEntry *entry;

	load_settings();
	entry = mmr_table_cache_entry(&resolvers_cache, RelationGetRelid(rel));
	if (!entry->cache.valid ||
		entry->built_with_default != mmr_default_conflict_resolver)
		build_entry(entry, rel);
	return &entry->r;
}

/*
 * mmr_resolver_function_name names rel's custom resolver for conflict_type
 * as stored in the catalog (for messages); NULL if it has none.
 */
char *
mmr_resolver_function_name(Relation rel, int conflict_type)
{
	char	   *schema = get_namespace_name(RelationGetNamespace(rel));
	const ResolverSetting *s;

	load_settings();
	s = find_setting(schema, RelationGetRelationName(rel), conflict_type);
	if (s == NULL || s->function == NULL)
		s = find_setting(schema, RelationGetRelationName(rel), 0);
	return s != NULL && s->function != NULL ? pstrdup(s->function) : NULL;
}

/*
 * The SQL functions.
 */

static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/*
 * check_table accepts tables and partitioned tables, not mmr's catalogs.
 */
static void
check_table(Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errdetail("Conflict resolvers are set for tables.")));
	if (get_rel_namespace(relid) == mmr_schema_oid(false))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot set a conflict resolver for mmr catalog \"%s\"",
						get_rel_name(relid))));
}

/*
 * conflict_type_arg returns the stored form of the conflict_type argument:
 * '*' for NULL (every type), else a known name.
 */
static const char *
conflict_type_arg(FunctionCallInfo fcinfo, int argno, int *type)
{
	char	   *name;

	*type = 0;
	if (PG_ARGISNULL(argno))
		return ALL_TYPES;
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	*type = mmr_conflict_type_from_name(name);
	if (*type <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown conflict type \"%s\"", name),
				 errhint("Conflict types are insert_exists, update_origin_differs, update_exists, update_missing, update_deleted, delete_origin_differs, delete_missing and insert_deleted.")));
	return name;
}

/*
 * store_setting writes the (table, type) row of mmr.conflict_resolver,
 * replacing an existing one.  The row replicates to every peer.
 */
static void
store_setting(Oid relid, const char *conflict_type, const char *resolver,
			  const char *function)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = "     ";
	int			ret;

	values[0] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(relid)));
	values[1] = CStringGetTextDatum(get_rel_name(relid));
	values[2] = CStringGetTextDatum(conflict_type);
	values[3] = resolver ? CStringGetTextDatum(resolver) : (Datum) 0;
	nulls[3] = resolver ? ' ' : 'n';
	values[4] = function ? CStringGetTextDatum(function) : (Datum) 0;
	nulls[4] = function ? ' ' : 'n';

	SPI_connect();
	ret = SPI_execute_with_args("INSERT INTO mmr.conflict_resolver AS r "
								"(relation_schema, relation_name, conflict_type, resolver, resolver_function) "
								"VALUES ($1, $2, $3, $4, $5) "
								"ON CONFLICT (relation_schema, relation_name, conflict_type) "
								"DO UPDATE SET resolver = EXCLUDED.resolver, "
								"resolver_function = EXCLUDED.resolver_function",
								5, types, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write mmr.conflict_resolver: %s",
			 SPI_result_code_string(ret));
	SPI_finish();
}

/*
 * mmr.set_conflict_resolver(relation regclass, resolver text,
 *							 conflict_type text default null)
 */
Datum
mmr_set_conflict_resolver(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *resolver;
	const char *type_name;
	int			type;
	int			kind;

	require_arg(fcinfo, 0, "relation");
	require_arg(fcinfo, 1, "resolver");
	relid = PG_GETARG_OID(0);
	resolver = text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_table(relid);
	type_name = conflict_type_arg(fcinfo, 2, &type);

	kind = mmr_resolver_from_name(resolver);
	if (kind == MMR_RESOLVER_CUSTOM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("resolver \"%s\" needs a function", resolver),
				 errhint("Use mmr.set_conflict_resolver_function().")));
	if (kind < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown conflict resolver \"%s\"", resolver),
				 errhint("Built-in resolvers are last_update_wins, first_update_wins, origin_wins, apply_remote, keep_local and error.")));

	store_setting(relid, type_name, mmr_resolver_name(kind), NULL);
	PG_RETURN_VOID();
}

static Oid
rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * check_resolver_signature requires f(T, T, text) returns T, T being the
 * table's row type, and that the table's owner (who runs it) may call it.
 */
static void
check_resolver_signature(Oid relid, Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	Oid			rowtype = get_rel_type_id(relid);
	bool		ok;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	ok = proc->prokind == PROKIND_FUNCTION && !proc->proretset &&
		proc->prorettype == rowtype && proc->pronargs == 3 &&
		proc->proargtypes.values[0] == rowtype &&
		proc->proargtypes.values[1] == rowtype &&
		proc->proargtypes.values[2] == TEXTOID;
	ReleaseSysCache(tup);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("function %s cannot resolve conflicts of table \"%s\"",
						format_procedure(funcid), get_rel_name(relid)),
				 errdetail("A conflict resolver of this table must be a function (%s, %s, text) returning %s.",
						   format_type_be(rowtype), format_type_be(rowtype),
						   format_type_be(rowtype))));

	if (pg_proc_aclcheck(funcid, rel_owner(relid), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner of table \"%s\" may not execute function %s",
						get_rel_name(relid), format_procedure(funcid)),
				 errdetail("Conflict resolvers run as the table's owner.")));
}

/*
 * mmr.set_conflict_resolver_function(relation regclass,
 *									  resolver_function regprocedure,
 *									  conflict_type text default null)
 */
Datum
mmr_set_conflict_resolver_function(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			funcid;
	const char *type_name;
	int			type;

	require_arg(fcinfo, 0, "relation");
	require_arg(fcinfo, 1, "resolver_function");
	relid = PG_GETARG_OID(0);
	funcid = PG_GETARG_OID(1);
	check_table(relid);
	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot set a conflict resolver function for partitioned table \"%s\"",
						get_rel_name(relid)),
				 errdetail("Conflicts are resolved in the partitions, whose row types differ from the partitioned table's."),
				 errhint("Set the function on each partition.")));
	type_name = conflict_type_arg(fcinfo, 2, &type);
	if (type != 0 && !mmr_conflict_custom_allowed(type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conflict type \"%s\" cannot be resolved by a function", type_name),
				 errdetail("Custom resolvers decide insert_exists, update_origin_differs, update_exists, update_missing and update_deleted."),
				 errhint("Use mmr.set_conflict_resolver() with a built-in resolver for this type.")));
	check_resolver_signature(relid, funcid);

	store_setting(relid, type_name, NULL, format_procedure_qualified(funcid));
	PG_RETURN_VOID();
}

/*
 * mmr.set_node_priority(node_name text, priority integer): for
 * origin_wins.  mmr.node replicates, so every node sees it.
 */
Datum
mmr_set_node_priority(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
	int			ret;

	SPI_connect();
	ret = SPI_execute_with_args("UPDATE mmr.node SET priority = $2 WHERE node_name = $1",
								2, types, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not update mmr.node: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" does not exist", name),
				 errhint("mmr.nodes lists the nodes of the group.")));
	SPI_finish();
	PG_RETURN_VOID();
}
