/*-------------------------------------------------------------------------
 *
 * resolver_sql.c
 *	  Runs a table's custom conflict resolver, a user SQL function
 *	  f(local_row T, remote_row T, conflict_type text) returns T.
 *
 * NOTES
 *	  Apply runs as a superuser; the function must not.  It runs as the
 *	  table's owner under SECURITY_RESTRICTED_OPERATION (as PostgreSQL runs
 *	  index expressions and maintenance code), in a GUC nest level of its
 *	  own, so it cannot change the session it runs in.  The signature was
 *	  checked when it was set; what it returns is checked again here, since
 *	  a peer's function of the same signature may be written differently.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"

#include "mmr.h"
#include "resolvers.h"

/*
 * row_datum turns a row of rel into a composite Datum of rel's row type.
 * heap_copy_tuple_as_datum labels it with rel's descriptor (type and
 * version) and inlines TOASTed values, as composite Datums require.
 */
static Datum
row_datum(Relation rel, TupleTableSlot *slot)
{
	bool		should_free;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, &should_free);
	Datum		d = heap_copy_tuple_as_datum(tuple, RelationGetDescr(rel));

	if (should_free)
		heap_freetuple(tuple);
	return d;
}

static void
check_callable(Relation rel, Oid funcid, const char *conflict_type)
{
	Oid			rowtype = rel->rd_rel->reltype;

	if (!OidIsValid(funcid))
	{
		char	   *name = mmr_resolver_function_name(rel,
													  mmr_conflict_type_from_name(conflict_type));

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("conflict resolver function %s of table \"%s\" does not exist on this node",
						name ? name : "?", RelationGetRelationName(rel)),
				 errhint("Create the function here, or set another resolver with mmr.set_conflict_resolver().")));
	}
	if (get_func_rettype(funcid) != rowtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("conflict resolver %s does not return type %s",
						format_procedure(funcid), format_type_be(rowtype))));
	if (pg_proc_aclcheck(funcid, rel->rd_rel->relowner, ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner of table \"%s\" may not execute conflict resolver %s",
						RelationGetRelationName(rel), format_procedure(funcid))));
}

bool
mmr_call_custom_resolver(Relation rel, Oid funcid, TupleTableSlot *local,
						 TupleTableSlot *remote, const char *conflict_type,
						 TupleTableSlot *result)
{
	Oid			rowtype = rel->rd_rel->reltype;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 3);
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	Datum		value;
	HeapTupleHeader td;
	HeapTupleData tuple;

	check_callable(rel, funcid, conflict_type);
	fmgr_info(funcid, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].isnull = local == NULL;
	fcinfo->args[0].value = local ? row_datum(rel, local) : (Datum) 0;
	fcinfo->args[1].isnull = false;
	fcinfo->args[1].value = row_datum(rel, remote);
	fcinfo->args[2].isnull = false;
	fcinfo->args[2].value = CStringGetTextDatum(conflict_type);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(rel->rd_rel->relowner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	PG_TRY();
	{
		value = FunctionCallInvoke(fcinfo);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	AtEOXact_GUC(false, save_nestlevel);

	if (fcinfo->isnull)
		return false;

	td = DatumGetHeapTupleHeader(value);
	if (HeapTupleHeaderGetTypeId(td) != rowtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("conflict resolver %s returned a row of type %s, not %s",
						format_procedure(funcid),
						format_type_be(HeapTupleHeaderGetTypeId(td)),
						format_type_be(rowtype))));
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = RelationGetRelid(rel);
	tuple.t_data = td;
	ExecForceStoreHeapTuple(&tuple, result, false);
	ExecMaterializeSlot(result);
	return true;
}
