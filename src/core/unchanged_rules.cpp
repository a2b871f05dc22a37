/*
 * unchanged_rules.cpp
 *	  Whose values a remote UPDATE's unchanged TOAST columns take
 *	  (docs/apply.md, "Unchanged TOAST values").
 *
 *	  Logical decoding cannot send a value that an UPDATE left unchanged
 *	  and that is stored out of line: the receiver builds the new row from
 *	  its own row's value.  That is the sender's value only when both rows
 *	  are the result of the same writes: the change met the local row
 *	  without a conflict (the sender had applied the local row's version),
 *	  and this node has applied every write of a third origin that the
 *	  sender had applied (the sender's horizon).  Otherwise the glue
 *	  fetches the values from the change's origin.
 */
#include "mmr_core.h"

#include "core_only.hpp"

namespace
{

/* Has this node applied origin's transactions up to commit_time? */
bool
applied_here(const MmrHorizonEntry *local, uint32_t nlocal, int32_t origin,
			 int64_t commit_time) noexcept
{
	for (uint32_t i = 0; i < nlocal; i++)
		if (local[i].node_id == origin)
			return local[i].commit_time >= commit_time;
	return false;
}

/* Is the new row stored, or shown to a custom resolver that may store it? */
bool
row_is_used(const MmrConflictDecision &d) noexcept
{
	return d.call_custom || d.action == MMR_ACTION_INSERT ||
		d.action == MMR_ACTION_UPDATE;
}

}							/* namespace */

extern "C" int
mmr_unchanged_from_origin(const MmrConflictFacts *facts,
						  const MmrConflictDecision *decision,
						  const MmrHorizonEntry *local_horizon,
						  uint32_t nlocal) noexcept
{
	if (facts == nullptr || decision == nullptr || !row_is_used(*decision))
		return 0;
	if (!facts->row_exists || decision->conflict != MMR_CONFLICT_NONE)
		return 1;
	/*
	 * No horizon: the sender logs none while it has applied nothing (its
	 * horizon is empty), so it had no third origin's write either.  (Writes
	 * that skip the executor log none at all: docs/apply.md, known limits.)
	 */
	if (facts->horizon == nullptr || facts->nhorizon == 0)
		return 0;
	if (local_horizon == nullptr && nlocal != 0)
		return 1;
	for (uint32_t i = 0; i < facts->nhorizon; i++)
	{
		const MmrHorizonEntry &e = facts->horizon[i];

		/* The sender's own writes and ours are all here (FIFO links). */
		if (e.node_id == facts->remote.origin_node || e.node_id == facts->local_node)
			continue;
		if (!applied_here(local_horizon, nlocal, e.node_id, e.commit_time))
			return 1;
	}
	return 0;
}
