/*-------------------------------------------------------------------------
 *
 * node_cache.c
 *	  Facts about the group's nodes for conflict decisions: node id -> name
 *	  and priority (mmr.node), this node's id (mmr.local_node), and
 *	  replication origin id -> node id.
 *
 * NOTES
 *	  Apply asks for these on every change that meets a local row, so the
 *	  common path costs no catalog lookup: the node list is read once and
 *	  kept until mmr.node or mmr.local_node changes.  Row changes of a table
 *	  send no invalidation by themselves, so both catalogs carry an ENABLE
 *	  ALWAYS row trigger (mmr.catalog_changed, below) that invalidates the
 *	  table's relcache entry: it fires for local writes and for changes
 *	  applied from peers alike, and the invalidation reaches every backend
 *	  at commit.  The relcache callback here drops the cache.
 *
 *	  Origins are named mmr_<database oid>_n<node id> (names.c); an origin
 *	  id is mapped once by parsing its name, and the mapping is dropped with
 *	  the node list (a parted peer's origin id may be reused).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "mmr.h"
#include "node_cache.h"

PG_FUNCTION_INFO_V1(mmr_catalog_changed);

/* Columns of mmr.node and mmr.local_node */
#define Anum_node_node_id 1
#define Anum_node_node_name 2
#define Anum_node_status 3
#define Anum_node_priority 4
#define Anum_local_node_node_id 1

typedef struct NodeInfo
{
	int32		node_id;
	int32		priority;
	char		name[NAMEDATALEN];
} NodeInfo;

/* Origin id -> node id, learnt one origin at a time. */
typedef struct OriginMapping
{
	RepOriginId origin;
	int32		node_id;
} OriginMapping;

#define MAX_ORIGIN_MAPPINGS 128

static bool cache_valid = false;
static uint64 invalidations = 0;
static bool callback_registered = false;
static Oid	node_relid = InvalidOid;
static Oid	local_node_relid = InvalidOid;
static int32 local_node_id = 0;
static NodeInfo *nodes = NULL;
static int	nnodes = 0;
static OriginMapping origin_map[MAX_ORIGIN_MAPPINGS];
static int	norigins = 0;

/*
 * A change of mmr.node or mmr.local_node (or a reset of the whole relcache)
 * drops the cache.  Without the extension there is no relid to compare:
 * then any relcache invalidation makes the next call look again, so that
 * CREATE EXTENSION and group_create are noticed.
 */
static void
node_cache_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || !OidIsValid(node_relid) ||
		relid == node_relid || relid == local_node_relid)
	{
		cache_valid = false;
		invalidations++;
	}
}

/*
 * scan_catalog opens an mmr catalog for a full scan with the latest
 * snapshot, so that a reload right after the invalidation sees the change.
 */
static SysScanDesc
scan_catalog(Relation rel, Snapshot snapshot)
{
	return systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
}

static void
node_cache_load(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snapshot;
	int			cap = 8;
	int32		local_id = 0;
	bool		local_parted = false;
	uint64		invalidations_before = invalidations;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(node_cache_invalidate, (Datum) 0);
		callback_registered = true;
	}

	nnodes = 0;
	norigins = 0;
	local_node_id = 0;
	node_relid = mmr_catalog_relid("node");
	local_node_relid = mmr_catalog_relid("local_node");
	if (!OidIsValid(node_relid) || !OidIsValid(local_node_relid))
	{
		node_relid = InvalidOid;
		cache_valid = true;
		return;
	}

	if (nodes == NULL)
		nodes = MemoryContextAlloc(CacheMemoryContext, cap * sizeof(NodeInfo));
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	rel = table_open(local_node_relid, AccessShareLock);
	scan = scan_catalog(rel, snapshot);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_local_node_node_id,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			local_id = DatumGetInt32(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	rel = table_open(node_relid, AccessShareLock);
	scan = scan_catalog(rel, snapshot);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		NodeInfo   *n;
		char	   *name;
		char	   *status;

		if (nnodes == cap)
		{
			cap *= 2;
			nodes = repalloc(nodes, cap * sizeof(NodeInfo));
		}
		n = &nodes[nnodes++];
		n->node_id = DatumGetInt32(heap_getattr(tup, Anum_node_node_id, desc, &isnull));
		n->priority = DatumGetInt32(heap_getattr(tup, Anum_node_priority, desc, &isnull));
		name = TextDatumGetCString(heap_getattr(tup, Anum_node_node_name, desc, &isnull));
		strlcpy(n->name, name, NAMEDATALEN);
		status = TextDatumGetCString(heap_getattr(tup, Anum_node_status, desc, &isnull));
		if (n->node_id == local_id && strcmp(status, "parted") == 0)
			local_parted = true;
		pfree(name);
		pfree(status);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);

	if (!local_parted)
		local_node_id = local_id;

	/* An invalidation that arrived while loading makes the next call reload. */
	cache_valid = invalidations == invalidations_before;
}

static inline void
node_cache_ensure(void)
{
	if (!cache_valid)
		node_cache_load();
}

static const NodeInfo *
node_lookup(int32 node_id)
{
	for (int i = 0; i < nnodes; i++)
		if (nodes[i].node_id == node_id)
			return &nodes[i];
	return NULL;
}

/*
 * origin_node_id maps a replication origin to the node whose changes it
 * tracks here; MMR_NODE_UNKNOWN for origins that are not mmr's peers of
 * this database (DoNotReplicateId: rows copied at a join).
 */
static int32
origin_node_id(RepOriginId origin)
{
	char	   *name;
	int32		node_id = MMR_NODE_UNKNOWN;
	Oid			dboid;
	int			consumed = 0;

	if (origin == InvalidRepOriginId)
		return local_node_id;

	for (int i = 0; i < norigins; i++)
		if (origin_map[i].origin == origin)
			return origin_map[i].node_id;

	if (origin != DoNotReplicateId &&
		replorigin_by_oid(origin, true, &name) &&
		sscanf(name, "mmr_%u_n%d%n", &dboid, &node_id, &consumed) == 2 &&
		name[consumed] == '\0' && dboid == MyDatabaseId)
		;
	else
		node_id = MMR_NODE_UNKNOWN;

	if (norigins == MAX_ORIGIN_MAPPINGS)
		norigins = 0;
	origin_map[norigins].origin = origin;
	origin_map[norigins].node_id = node_id;
	norigins++;
	return node_id;
}

static void
fill_node(int32 node_id, MmrVersion *out)
{
	const NodeInfo *n = node_lookup(node_id);

	out->origin_node = node_id;
	out->priority = n ? n->priority : 0;
	out->origin_name.data = n ? n->name : "";
	out->origin_name.len = n ? strlen(n->name) : 0;
}

/*
 * mmr_local_node_id returns this node's id, 0 when this database is not
 * (or no longer) a member of a group.
 */
int32
mmr_local_node_id(void)
{
	node_cache_ensure();
	return local_node_id;
}

/*
 * mmr_local_node_name returns this node's name (valid until the next
 * reload of the cache), NULL when not a member.  For write partitioning.
 */
const char *
mmr_local_node_name(void)
{
	const NodeInfo *n;

	node_cache_ensure();
	n = local_node_id != 0 ? node_lookup(local_node_id) : NULL;
	return n != NULL ? n->name : NULL;
}

/*
 * mmr_version_from_xid tells who committed xid and when, from commit_ts.
 */
void
mmr_version_from_xid(TransactionId xid, MmrVersion *out)
{
	TimestampTz ts = 0;
	RepOriginId origin = InvalidRepOriginId;
	int32		node_id = MMR_NODE_UNKNOWN;

	node_cache_ensure();
	memset(out, 0, sizeof(*out));
	/*
	 * A write under DoNotReplicateId is local bookkeeping (a join's copy of
	 * the member list), no node's version: like a frozen row, it counts as
	 * older than every remote change.
	 */
	if (TransactionIdIsNormal(xid) &&
		TransactionIdGetCommitTsData(xid, &ts, &origin) &&
		origin != DoNotReplicateId)
	{
		out->time_known = 1;
		out->commit_time = ts;
		node_id = origin_node_id(origin);
	}
	fill_node(node_id, out);
}

/*
 * mmr_version_for_node describes a remote transaction of node_id.
 */
void
mmr_version_for_node(int32 node_id, int64 commit_time, MmrVersion *out)
{
	node_cache_ensure();
	memset(out, 0, sizeof(*out));
	out->commit_time = commit_time;
	out->time_known = 1;
	fill_node(node_id, out);
}

/*
 * mmr.catalog_changed(): AFTER ROW trigger (ENABLE ALWAYS) on the catalogs
 * that backends cache (mmr.node, mmr.local_node, mmr.conflict_resolver).
 * Invalidating the catalog's relcache entry tells every backend at commit,
 * for local writes and applied ones.
 */
Datum
mmr_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mmr.catalog_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
