/*-------------------------------------------------------------------------
 *
 * global_id.c
 *	  mmr.global_nextval(sequence): ids unique across the group without
 *	  coordination (docs/global_ids.md; the layout and the rule are in
 *	  src/core/global_id.cpp).
 *
 * NOTES
 *	  The node number is the node's node_id (mmr.node, 1..1023).  The last
 *	  id lives in the sequence itself, as its value: setval() WAL-logs the
 *	  exact value at once (nextval() logs 32 values ahead, which a
 *	  computed id cannot use) and gives the transaction an xid, so the
 *	  commit that stores an id also flushes the record that the id was
 *	  taken.  After a crash the sequence holds at least every id a
 *	  committed transaction used, and the next id is computed from it.
 *
 *	  Read-compute-set must not interleave between sessions: an exclusive
 *	  lock on the sequence as an object (not as a relation, so it meets no
 *	  relation lock and leaves the fast path of nextval's and setval's
 *	  RowExclusiveLock alone) is taken around it and released at once, not
 *	  at commit, so a long transaction does not hold up the others.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "mmr.h"
#include "node_cache.h"

PG_FUNCTION_INFO_V1(mmr_global_nextval);

/*
 * check_sequence accepts permanent sequences the user may take values of
 * (USAGE or UPDATE, as for nextval).  A temporary or unlogged sequence
 * would forget its last id (session end, crash) and ids would repeat.
 * Returns the sequence's owner.
 */
static Oid
check_sequence(Oid seqid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(seqid));
	Form_pg_class form;
	bool		is_sequence;
	char		persistence;
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", seqid);
	form = (Form_pg_class) GETSTRUCT(tup);
	is_sequence = form->relkind == RELKIND_SEQUENCE;
	persistence = form->relpersistence;
	owner = form->relowner;
	ReleaseSysCache(tup);

	if (!is_sequence)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a sequence", get_rel_name(seqid))));
	if (persistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("sequence \"%s\" cannot give global ids because it is %s",
						get_rel_name(seqid),
						persistence == RELPERSISTENCE_TEMP ? "temporary" : "unlogged"),
				 errdetail("It would forget its last id and ids would repeat."),
				 errhint("Use an ordinary sequence.")));
	if (pg_class_aclcheck(seqid, GetUserId(), ACL_USAGE | ACL_UPDATE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_SEQUENCE, get_rel_name(seqid));
	return owner;
}

/* The sequence's current value; 0 when it was never set. */
static int64
sequence_last_value(Oid seqid)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seqid);
	fcinfo->args[0].isnull = false;
	result = pg_sequence_last_value(fcinfo);
	return fcinfo->isnull ? 0 : DatumGetInt64(result);
}

static void
check_fits(Oid seqid, int64 id)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
	int64		max;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seqid);
	max = ((Form_pg_sequence) GETSTRUCT(tup))->seqmax;
	ReleaseSysCache(tup);
	if (id > max)
		ereport(ERROR,
				(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
				 errmsg("sequence \"%s\" cannot hold global ids", get_rel_name(seqid)),
				 errdetail("Its MAXVALUE is " INT64_FORMAT "; global ids need values up to " INT64_FORMAT ".",
						   max, PG_INT64_MAX),
				 errhint("Use a bigint sequence with the default MAXVALUE.")));
}

static void
raise_status(MmrGlobalIdStatus status, int32 node, TimestampTz now)
{
	switch (status)
	{
		case MMR_GLOBAL_ID_OK:
			return;
		case MMR_GLOBAL_ID_BAD_NODE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("node id %d does not fit in a global id", node),
					 errdetail("Global ids hold node ids 1 to %d.", MMR_GLOBAL_ID_MAX_NODE)));
			break;
		case MMR_GLOBAL_ID_BEFORE_EPOCH:
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("the clock reads %s, before the global id epoch %s",
							timestamptz_to_str(now),
							timestamptz_to_str(MMR_GLOBAL_ID_EPOCH))));
			break;
		case MMR_GLOBAL_ID_EXHAUSTED:
			ereport(ERROR,
					(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
					 errmsg("global ids are exhausted"),
					 errdetail("Their %d bits of milliseconds end %s.", MMR_GLOBAL_ID_TIME_BITS,
							   timestamptz_to_str(MMR_GLOBAL_ID_EPOCH +
												  MMR_GLOBAL_ID_MAX_MILLIS * 1000))));
			break;
		case MMR_GLOBAL_ID_BAD_PART:
			elog(ERROR, "invalid global id parts");
	}
}

/*
 * mmr.global_nextval(sequence regclass) returns bigint
 */
Datum
mmr_global_nextval(PG_FUNCTION_ARGS)
{
	Oid			seqid = PG_GETARG_OID(0);
	int32		node = mmr_local_node_id();
	Oid			owner = check_sequence(seqid);
	Oid			save_userid;
	int			save_sec_context;
	TimestampTz now;
	int64		id = 0;
	MmrGlobalIdStatus status;

	if (node == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a member of an mmr group"),
				 errdetail("Global ids carry the node's id."),
				 errhint("Use mmr.group_create() or mmr.group_join() first.")));

	LockDatabaseObject(RelationRelationId, seqid, 0, ExclusiveLock);
	/* USAGE was enough above; setting the value is done as its owner. */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	now = GetCurrentTimestamp();
	status = mmr_global_id_next(sequence_last_value(seqid), now, node, &id);
	raise_status(status, node, now);
	check_fits(seqid, id);
	DirectFunctionCall2(setval_oid, ObjectIdGetDatum(seqid), Int64GetDatum(id));

	SetUserIdAndSecContext(save_userid, save_sec_context);
	UnlockDatabaseObject(RelationRelationId, seqid, 0, ExclusiveLock);
	PG_RETURN_INT64(id);
}
