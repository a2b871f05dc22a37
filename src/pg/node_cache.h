/*-------------------------------------------------------------------------
 *
 * node_cache.h
 *	  Facts about the group's nodes for conflict decisions (node_cache.c):
 *	  node id -> name and priority, replication origin id -> node id.
 *	  Reloaded when mmr.node changes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_NODE_CACHE_H
#define MMR_NODE_CACHE_H

#include "mmr_core.h"

/* This node's id (0 when not in a group). */
extern int32 mmr_local_node_id(void);

/* This node's name (NULL when not in a group); valid until mmr.node changes. */
extern const char *mmr_local_node_name(void);

/*
 * The version a transaction wrote: its commit_ts origin mapped to a node
 * (InvalidRepOriginId = this node), its commit time, and the node's name
 * and priority.  Unknown commit time (frozen, or before
 * track_commit_timestamp): time_known = 0.  The name points into the cache
 * and stays valid until the next reload.
 */
extern void mmr_version_from_xid(TransactionId xid, MmrVersion *out);

/* The version of a remote transaction of node_id committed at time. */
extern void mmr_version_for_node(int32 node_id, int64 commit_time,
								 MmrVersion *out);

#endif							/* MMR_NODE_CACHE_H */
