/*-------------------------------------------------------------------------
 *
 * ddl_facts.c
 *	  The facts about a utility statement that decide whether it replicates
 *	  (mmr_ddl_decide, src/core/ddl_rules.cpp): what kind of statement it
 *	  is, whether it creates or touches temporary objects, objects of mmr's
 *	  schema or tables excluded from replication, and CONCURRENTLY.
 *
 * NOTES
 *	  Works on raw parse trees (mmr.replicate_ddl parses its command) and on
 *	  the utility statements ProcessUtility gets, which are the same nodes.
 *	  Existing relations are looked up by name without a lock: these are
 *	  facts for a decision taken before the statement runs, and a relation
 *	  that does not exist yet (created earlier in the same command) counts
 *	  as permanent.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "ddl.h"
#include "mmr.h"

static MmrDdlKind statement_kind(Node *parsetree);
static void note_created(RangeVar *rv, MmrDdlFacts *facts);
static void note_relation(RangeVar *rv, MmrDdlFacts *facts,
						  MmrDdlFactsDetail *detail);
static void note_qualified_name(Node *name, MmrDdlFacts *facts);
static void note_schema_name(const char *name, MmrDdlFacts *facts);
static void note_owning_relation(List *names, MmrDdlFacts *facts,
								 MmrDdlFactsDetail *detail);
static bool is_relation_type(ObjectType type);
static bool is_on_relation_type(ObjectType type);

/*
 * mmr_ddl_gather_facts fills facts (zeroed by the caller, explicit_call
 * and nested set by it) for one statement.
 */
void
mmr_ddl_gather_facts(Node *parsetree, MmrDdlFacts *facts,
					 MmrDdlFactsDetail *detail)
{
	ListCell   *lc;

	facts->kind = statement_kind(parsetree);
	if (facts->kind == MMR_DDL_KIND_NONE)
		return;

	switch (nodeTag(parsetree))
	{
		case T_CreateStmt:
			note_created(((CreateStmt *) parsetree)->relation, facts);
			break;
		case T_CreateForeignTableStmt:
			note_created(((CreateForeignTableStmt *) parsetree)->base.relation, facts);
			break;
		case T_CreateSeqStmt:
			note_created(((CreateSeqStmt *) parsetree)->sequence, facts);
			break;
		case T_ViewStmt:
			note_created(((ViewStmt *) parsetree)->view, facts);
			break;
		case T_CreateTableAsStmt:
			note_created(((CreateTableAsStmt *) parsetree)->into->rel, facts);
			break;
		case T_SelectStmt:
			note_created(((SelectStmt *) parsetree)->intoClause->rel, facts);
			break;
		case T_CompositeTypeStmt:
			note_created(((CompositeTypeStmt *) parsetree)->typevar, facts);
			break;
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) parsetree;

				note_relation(stmt->relation, facts, detail);
				facts->concurrently = stmt->concurrent;
				break;
			}
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

				note_relation(stmt->relation, facts, detail);
				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

					if (cmd->subtype == AT_DetachPartition &&
						((PartitionCmd *) cmd->def)->concurrent)
						facts->concurrently = true;
				}
				break;
			}
		case T_AlterSeqStmt:
			note_relation(((AlterSeqStmt *) parsetree)->sequence, facts, detail);
			break;
		case T_CreateTrigStmt:
			note_relation(((CreateTrigStmt *) parsetree)->relation, facts, detail);
			break;
		case T_RuleStmt:
			note_relation(((RuleStmt *) parsetree)->relation, facts, detail);
			break;
		case T_CreatePolicyStmt:
			note_relation(((CreatePolicyStmt *) parsetree)->table, facts, detail);
			break;
		case T_AlterPolicyStmt:
			note_relation(((AlterPolicyStmt *) parsetree)->table, facts, detail);
			break;
		case T_CreateStatsStmt:
			foreach(lc, ((CreateStatsStmt *) parsetree)->relations)
				if (IsA(lfirst(lc), RangeVar))
					note_relation(lfirst(lc), facts, detail);
			break;
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;

				facts->concurrently = stmt->concurrent;
				foreach(lc, stmt->objects)
				{
					Node	   *object = lfirst(lc);

					if (is_relation_type(stmt->removeType))
						note_relation(makeRangeVarFromNameList(castNode(List, object)),
									  facts, detail);
					else if (is_on_relation_type(stmt->removeType))
						note_owning_relation(castNode(List, object), facts, detail);
					else if (stmt->removeType == OBJECT_SCHEMA)
						note_schema_name(strVal(object), facts);
					else
						note_qualified_name(object, facts);
				}
				break;
			}
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				if (stmt->relation != NULL)
					note_relation(stmt->relation, facts, detail);
				else if (stmt->renameType == OBJECT_SCHEMA)
					note_schema_name(stmt->subname, facts);
				else
					note_qualified_name(stmt->object, facts);
				break;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;

				if (stmt->relation != NULL)
					note_relation(stmt->relation, facts, detail);
				else
					note_qualified_name(stmt->object, facts);
				note_schema_name(stmt->newschema, facts);
				break;
			}
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *stmt = (AlterOwnerStmt *) parsetree;

				if (stmt->relation != NULL)
					note_relation(stmt->relation, facts, detail);
				else if (stmt->objectType == OBJECT_SCHEMA)
					note_schema_name(strVal(stmt->object), facts);
				else
					note_qualified_name(stmt->object, facts);
				break;
			}
		case T_GrantStmt:
			{
				GrantStmt  *stmt = (GrantStmt *) parsetree;

				foreach(lc, stmt->objects)
				{
					Node	   *object = lfirst(lc);

					if (IsA(object, RangeVar))
						note_relation((RangeVar *) object, facts, detail);
					else if (IsA(object, String) &&
							 (stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA ||
							  stmt->objtype == OBJECT_SCHEMA))
						note_schema_name(strVal(object), facts);
					else
						note_qualified_name(object, facts);
				}
				break;
			}
		case T_CommentStmt:
			{
				CommentStmt *stmt = (CommentStmt *) parsetree;

				if (is_relation_type(stmt->objtype))
					note_relation(makeRangeVarFromNameList(castNode(List, stmt->object)),
								  facts, detail);
				else if (is_on_relation_type(stmt->objtype))
					note_owning_relation(castNode(List, stmt->object), facts, detail);
				else
					note_qualified_name(stmt->object, facts);
				break;
			}
		case T_CreateSchemaStmt:
			note_schema_name(((CreateSchemaStmt *) parsetree)->schemaname, facts);
			break;
		case T_CreateFunctionStmt:
			note_qualified_name((Node *) ((CreateFunctionStmt *) parsetree)->funcname, facts);
			break;
		case T_AlterFunctionStmt:
			note_qualified_name((Node *) ((AlterFunctionStmt *) parsetree)->func, facts);
			break;
		case T_DefineStmt:
			note_qualified_name((Node *) ((DefineStmt *) parsetree)->defnames, facts);
			break;
		case T_CreateEnumStmt:
			note_qualified_name((Node *) ((CreateEnumStmt *) parsetree)->typeName, facts);
			break;
		case T_AlterEnumStmt:
			note_qualified_name((Node *) ((AlterEnumStmt *) parsetree)->typeName, facts);
			break;
		case T_CreateRangeStmt:
			note_qualified_name((Node *) ((CreateRangeStmt *) parsetree)->typeName, facts);
			break;
		case T_CreateDomainStmt:
			note_qualified_name((Node *) ((CreateDomainStmt *) parsetree)->domainname, facts);
			break;
		case T_AlterDomainStmt:
			note_qualified_name((Node *) ((AlterDomainStmt *) parsetree)->typeName, facts);
			break;
		case T_AlterTypeStmt:
			note_qualified_name((Node *) ((AlterTypeStmt *) parsetree)->typeName, facts);
			break;
		default:
			break;
	}

	/* Statements about objects named nowhere above are about permanent ones. */
	if (!facts->temporary)
		facts->permanent = true;
}

/*
 * statement_kind sorts a statement into the kinds of mmr_core.h.  A
 * statement not listed is not a schema change.
 */
static MmrDdlKind
statement_kind(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateTableAsStmt:
			{
				CreateTableAsStmt *stmt = (CreateTableAsStmt *) parsetree;

				/* A materialized view's rows are not replicated. */
				if (stmt->objtype == OBJECT_MATVIEW || stmt->into->skipData)
					return MMR_DDL_KIND_SCHEMA;
				return MMR_DDL_KIND_WITH_DATA;
			}
		case T_SelectStmt:
			/* SELECT INTO, as mmr.replicate_ddl parses it */
			return ((SelectStmt *) parsetree)->intoClause != NULL ?
				MMR_DDL_KIND_WITH_DATA : MMR_DDL_KIND_NONE;

		case T_CreateStmt:
		case T_CreateForeignTableStmt:
		case T_AlterTableStmt:
		case T_DropStmt:
		case T_IndexStmt:
		case T_CreateSeqStmt:
		case T_AlterSeqStmt:
		case T_ViewStmt:
		case T_CreateFunctionStmt:
		case T_AlterFunctionStmt:
		case T_DefineStmt:
		case T_CompositeTypeStmt:
		case T_CreateEnumStmt:
		case T_AlterEnumStmt:
		case T_CreateRangeStmt:
		case T_CreateDomainStmt:
		case T_AlterDomainStmt:
		case T_AlterTypeStmt:
		case T_CreateSchemaStmt:
		case T_RenameStmt:
		case T_AlterObjectSchemaStmt:
		case T_AlterOwnerStmt:
		case T_AlterObjectDependsStmt:
		case T_GrantStmt:
		case T_AlterDefaultPrivilegesStmt:
		case T_CommentStmt:
		case T_SecLabelStmt:
		case T_CreateTrigStmt:
		case T_RuleStmt:
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
		case T_CreateStatsStmt:
		case T_AlterStatsStmt:
		case T_CreateCastStmt:
		case T_CreateConversionStmt:
		case T_CreateOpClassStmt:
		case T_CreateOpFamilyStmt:
		case T_AlterOpFamilyStmt:
		case T_AlterOperatorStmt:
		case T_AlterCollationStmt:
		case T_AlterTSDictionaryStmt:
		case T_AlterTSConfigurationStmt:
		case T_CreateTransformStmt:
		case T_CreateAmStmt:
		case T_CreatePLangStmt:
		case T_CreateEventTrigStmt:
		case T_AlterEventTrigStmt:
		case T_CreateFdwStmt:
		case T_AlterFdwStmt:
		case T_CreateForeignServerStmt:
		case T_AlterForeignServerStmt:
		case T_CreateUserMappingStmt:
		case T_AlterUserMappingStmt:
		case T_DropUserMappingStmt:
		case T_ImportForeignSchemaStmt:
		case T_DropOwnedStmt:
			return MMR_DDL_KIND_SCHEMA;

		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
		case T_GrantRoleStmt:
		case T_ReassignOwnedStmt:
		case T_CreatedbStmt:
		case T_AlterDatabaseStmt:
		case T_AlterDatabaseRefreshCollStmt:
		case T_AlterDatabaseSetStmt:
		case T_DropdbStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterTableSpaceOptionsStmt:
		case T_AlterTableMoveAllStmt:
		case T_AlterSystemStmt:
		case T_CreatePublicationStmt:
		case T_AlterPublicationStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSubscriptionStmt:
		case T_DropSubscriptionStmt:
			return MMR_DDL_KIND_GLOBAL;

		case T_CreateExtensionStmt:
		case T_AlterExtensionStmt:
		case T_AlterExtensionContentsStmt:
			return MMR_DDL_KIND_EXTENSION;

		default:
			return MMR_DDL_KIND_NONE;
	}
}

static bool
is_temp_rangevar(const RangeVar *rv)
{
	return rv->relpersistence == RELPERSISTENCE_TEMP ||
		(rv->schemaname != NULL && strcmp(rv->schemaname, "pg_temp") == 0);
}

/*
 * note_created notes a relation (or composite type) the statement
 * creates: temporary, or permanent in the schema it will be created in.
 */
static void
note_created(RangeVar *rv, MmrDdlFacts *facts)
{
	List	   *path;

	if (is_temp_rangevar(rv))
	{
		facts->temporary = true;
		return;
	}
	facts->permanent = true;
	if (rv->schemaname != NULL)
	{
		note_schema_name(rv->schemaname, facts);
		return;
	}
	/* Unqualified: created in the first schema of the search path. */
	path = fetch_search_path(false);
	if (path != NIL && linitial_oid(path) == mmr_schema_oid(true))
		facts->in_mmr_schema = true;
	list_free(path);
}

/*
 * note_relation notes an existing relation the statement is about (for an
 * index, also its table, which is what set_table_replicated excludes).
 */
static void
note_relation(RangeVar *rv, MmrDdlFacts *facts, MmrDdlFactsDetail *detail)
{
	Oid			relid;
	Oid			table;

	if (is_temp_rangevar(rv))
	{
		facts->temporary = true;
		return;
	}
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
	{
		facts->permanent = true;
		if (rv->schemaname != NULL)
			note_schema_name(rv->schemaname, facts);
		return;
	}
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
	{
		facts->temporary = true;
		return;
	}
	facts->permanent = true;
	if (get_rel_namespace(relid) == mmr_schema_oid(true))
		facts->in_mmr_schema = true;

	table = get_rel_relkind(relid) == RELKIND_INDEX ||
		get_rel_relkind(relid) == RELKIND_PARTITIONED_INDEX ?
		IndexGetRelation(relid, true) : relid;
	if (OidIsValid(table) && !mmr_table_is_replicated(table))
	{
		facts->unreplicated_table = true;
		detail->unreplicated_table =
			quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
									   get_rel_name(table));
	}
}

/*
 * note_owning_relation notes the relation of an object that belongs to one
 * (a column, trigger, rule, policy or constraint), named as the relation's
 * name followed by the object's.
 */
static void
note_owning_relation(List *names, MmrDdlFacts *facts, MmrDdlFactsDetail *detail)
{
	if (list_length(names) < 2)
		return;
	note_relation(makeRangeVarFromNameList(list_truncate(list_copy(names),
														 list_length(names) - 1)),
				  facts, detail);
}

/*
 * note_qualified_name notes the schema of a schema-qualified object name
 * (a list of String, an ObjectWithArgs or a TypeName); an unqualified name
 * is in some schema of the search path, which mmr's is not meant to be.
 */
static void
note_qualified_name(Node *name, MmrDdlFacts *facts)
{
	List	   *names = NIL;

	if (name == NULL)
		return;
	if (IsA(name, List))
		names = (List *) name;
	else if (IsA(name, ObjectWithArgs))
		names = ((ObjectWithArgs *) name)->objname;
	else if (IsA(name, TypeName))
		names = ((TypeName *) name)->names;

	if (list_length(names) >= 2 && IsA(linitial(names), String))
		note_schema_name(strVal(list_nth(names, list_length(names) - 2)), facts);
}

static void
note_schema_name(const char *name, MmrDdlFacts *facts)
{
	Oid			mmr_nsp = mmr_schema_oid(true);

	if (name == NULL)
		return;
	if (strcmp(name, "pg_temp") == 0 || strncmp(name, "pg_temp_", 8) == 0)
		facts->temporary = true;
	else if (OidIsValid(mmr_nsp) && get_namespace_oid(name, true) == mmr_nsp)
		facts->in_mmr_schema = true;
}

static bool
is_relation_type(ObjectType type)
{
	switch (type)
	{
		case OBJECT_TABLE:
		case OBJECT_INDEX:
		case OBJECT_SEQUENCE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_FOREIGN_TABLE:
			return true;
		default:
			return false;
	}
}

/* Objects named by their relation's name and their own. */
static bool
is_on_relation_type(ObjectType type)
{
	switch (type)
	{
		case OBJECT_COLUMN:
		case OBJECT_TRIGGER:
		case OBJECT_RULE:
		case OBJECT_POLICY:
		case OBJECT_TABCONSTRAINT:
			return true;
		default:
			return false;
	}
}
