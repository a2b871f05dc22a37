/*
 * tombstone_rules.cpp
 *	  When a delete tombstone may go (docs/conflicts.md, "Tombstones").
 *
 *	  A tombstone answers remote changes that were concurrent with its
 *	  delete.  Each link is FIFO, so once every peer other than the delete's
 *	  origin has applied the origin's transactions up to the delete's commit
 *	  time, every change those peers made before seeing the delete has
 *	  already arrived here, and the tombstone has nothing left to answer.
 */
#include "mmr_core.h"

#include "core_only.hpp"

namespace
{

/* Has this peer applied origin's transactions up to commit_time? */
bool
peer_past(const MmrPeerHorizon &peer, int32_t origin, int64_t commit_time) noexcept
{
	if (peer.entries == nullptr)
		return false;
	for (uint32_t i = 0; i < peer.nentries; i++)
		if (peer.entries[i].node_id == origin)
			return peer.entries[i].commit_time >= commit_time;
	return false;
}

}							/* namespace */

extern "C" int
mmr_tombstone_collectable(const MmrVersion *tombstone, int32_t local_node,
						  const MmrPeerHorizon *peers, uint32_t npeers) noexcept
{
	if (tombstone == nullptr)
		return 0;
	/* Unknown time: older than every remote change, it decides nothing. */
	if (!tombstone->time_known)
		return 1;
	/* A delete of no known node: no horizon can ever show it was seen. */
	if (tombstone->origin_node == MMR_NODE_UNKNOWN)
		return 0;
	if (peers == nullptr && npeers != 0)
		return 0;
	for (uint32_t i = 0; i < npeers; i++)
	{
		const MmrPeerHorizon &peer = peers[i];

		if (peer.peer_node == tombstone->origin_node || peer.peer_node == local_node)
			continue;
		if (!peer_past(peer, tombstone->origin_node, tombstone->commit_time))
			return 0;
	}
	return 1;
}
