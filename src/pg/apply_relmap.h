/*-------------------------------------------------------------------------
 *
 * apply_relmap.h
 *	  The apply worker's map from a peer's relations to local ones (see
 *	  apply_relmap.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_APPLY_RELMAP_H
#define MMR_APPLY_RELMAP_H

#include "fmgr.h"
#include "nodes/primnodes.h"
#include "pg_config_manual.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"

#include "mmr_core.h"
#include "resolvers.h"

/* A column as the peer described it in its RELATION message. */
typedef struct MmrRemoteColumn
{
	char	   *name;
	Oid			type_oid;		/* the peer's oid: meaningful for built-ins */
	int32		typmod;
	char	   *type_name;
	bool		is_key;			/* part of the peer's replica identity */
} MmrRemoteColumn;

/* How to fill one local column (indexed by attnum - 1). */
typedef struct MmrLocalColumn
{
	int			remote_index;	/* index in columns[], or -1: not sent */
	Oid			typioparam;
	FmgrInfo	in_func;		/* type input function */
	bool		binary_ok;		/* same built-in type on both sides */
	FmgrInfo	recv_func;		/* type receive function, if binary_ok */
	Expr	   *default_expr;	/* planned DEFAULT for INSERT, when not sent */
	bool		lookup_key;		/* column of lookup_index */
} MmrLocalColumn;

/*
 * A unique index that a remote new row may collide with (apply_exec.c's
 * probe): immediate, valid, btree.  The equality procedures are looked up
 * once here, not per change.
 */
typedef struct MmrUniqueIndex
{
	Oid			indexoid;
	bool		is_lookup;		/* it is lookup_index */
	int			nkeys;			/* key columns (no INCLUDE columns) */
	RegProcedure procs[INDEX_MAX_KEYS]; /* equality, per key column */
	AttrNumber	attnums[INDEX_MAX_KEYS];	/* table column, 0: expression */
} MmrUniqueIndex;

typedef struct MmrApplyRelation
{
	uint32		remote_relid;	/* hash key: the peer's oid */

	/* The peer's side, replaced by each RELATION message. */
	MemoryContext remote_context;
	char	   *nspname;
	char	   *relname;
	char		replica_identity;	/* the peer's relreplident */
	int			ncolumns;
	MmrRemoteColumn *columns;

	/* The local side, rebuilt after invalidation. */
	bool		local_valid;
	MemoryContext local_context;
	Oid			local_relid;
	Relation	localrel;		/* open between relmap_open and relmap_close */
	int			natts;			/* of the local tuple descriptor */
	MmrLocalColumn *local;		/* natts entries */
	bool		has_defaults;	/* some unsent column has a default */
	Oid			lookup_index;	/* replica identity index or primary key */
	const char *lookup_unusable;	/* why lookup_index cannot be used with
									 * the peer's keys, or NULL */
	bool		is_node_catalog;	/* mmr.node */
	int			nunique;		/* unique indexes to probe */
	MmrUniqueIndex *unique;
	List	   *unique_oids;	/* their oids: the inserts' arbiter indexes */
	bool		has_tombstones; /* a key for tombstones (lookup_index) */
	uint64		no_tombstones_at;	/* 1 + mmr_tombstone_writes() when the
									 * table had no tombstone; 0: unknown */
	bool		tombstones_seen;	/* it had some: look up every key */

	/* The table's resolvers, copied once per remote transaction. */
	MmrTableResolvers resolvers;
	uint64		resolvers_xact; /* mmr_remote_xact.seq they were read in;
								 * 0: never */
} MmrApplyRelation;

extern void mmr_relmap_update(const MmrRelation *remote);
extern MmrApplyRelation *mmr_relmap_lookup(uint32 remote_relid);
extern MmrApplyRelation *mmr_relmap_open(uint32 remote_relid, LOCKMODE lockmode);
extern void mmr_relmap_close(MmrApplyRelation *rel, LOCKMODE lockmode);

#endif							/* MMR_APPLY_RELMAP_H */
