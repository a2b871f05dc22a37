/*
 * global_id.cpp
 *	  The snowflake layout of mmr.global_nextval and the rule that picks the
 *	  next id (docs/global_ids.md).
 *
 *	  Uniqueness across the group comes from the node bits alone; per node,
 *	  each id is computed from the previous one, so it is greater even when
 *	  the clock stood still or went back: the id then keeps the previous
 *	  millisecond and counts on, borrowing the next millisecond when the
 *	  counter is used up.  The clock only ever moves ids forward.
 */
#include "mmr_core.h"

#include "core_only.hpp"

namespace
{

constexpr int	kCounterShift = 0;
constexpr int	kNodeShift = MMR_GLOBAL_ID_COUNTER_BITS;
constexpr int	kMillisShift = MMR_GLOBAL_ID_COUNTER_BITS + MMR_GLOBAL_ID_NODE_BITS;

static_assert(MMR_GLOBAL_ID_TIME_BITS + MMR_GLOBAL_ID_NODE_BITS + MMR_GLOBAL_ID_COUNTER_BITS == 63,
			  "a global id fills a positive int64");
static_assert(MMR_GLOBAL_ID_MAX_NODE == (1 << MMR_GLOBAL_ID_NODE_BITS) - 1, "node bits");
static_assert(MMR_GLOBAL_ID_MAX_COUNTER == (1 << MMR_GLOBAL_ID_COUNTER_BITS) - 1, "counter bits");

constexpr int64_t kMicrosPerMilli = 1000;

}							/* namespace */

extern "C" MmrGlobalIdStatus
mmr_global_id_make(const MmrGlobalIdParts *parts, int64_t *id) noexcept
{
	if (parts == nullptr || id == nullptr)
		return MMR_GLOBAL_ID_BAD_PART;
	if (parts->node < 1 || parts->node > MMR_GLOBAL_ID_MAX_NODE)
		return MMR_GLOBAL_ID_BAD_NODE;
	if (parts->millis < 0 || parts->counter < 0 || parts->counter > MMR_GLOBAL_ID_MAX_COUNTER)
		return MMR_GLOBAL_ID_BAD_PART;
	if (parts->millis > MMR_GLOBAL_ID_MAX_MILLIS)
		return MMR_GLOBAL_ID_EXHAUSTED;
	*id = (parts->millis << kMillisShift) | (int64_t{parts->node} << kNodeShift) |
		(int64_t{parts->counter} << kCounterShift);
	return MMR_GLOBAL_ID_OK;
}

extern "C" void
mmr_global_id_split(int64_t id, MmrGlobalIdParts *out) noexcept
{
	if (out == nullptr)
		return;
	if (id < 0)
		id = 0;
	out->millis = id >> kMillisShift;
	out->node = static_cast<int32_t>((id >> kNodeShift) & MMR_GLOBAL_ID_MAX_NODE);
	out->counter = static_cast<int32_t>((id >> kCounterShift) & MMR_GLOBAL_ID_MAX_COUNTER);
}

extern "C" MmrGlobalIdStatus
mmr_global_id_next(int64_t last, int64_t now, int32_t node, int64_t *id) noexcept
{
	if (id == nullptr)
		return MMR_GLOBAL_ID_BAD_PART;
	if (node < 1 || node > MMR_GLOBAL_ID_MAX_NODE)
		return MMR_GLOBAL_ID_BAD_NODE;
	/* A clock before the epoch can only count on from a previous id. */
	if (now < MMR_GLOBAL_ID_EPOCH && last <= 0)
		return MMR_GLOBAL_ID_BEFORE_EPOCH;

	int64_t		now_millis = now < MMR_GLOBAL_ID_EPOCH ? -1 : (now - MMR_GLOBAL_ID_EPOCH) / kMicrosPerMilli;
	MmrGlobalIdParts prev{};

	mmr_global_id_split(last, &prev);
	/* Our own counter continues; another node's id only sets the time. */
	int64_t		prev_counter = last > 0 && prev.node == node ? prev.counter : -1;
	MmrGlobalIdParts next{0, node, 0};

	if (now_millis > prev.millis)
		next.millis = now_millis;
	else if (prev_counter < MMR_GLOBAL_ID_MAX_COUNTER)
	{
		next.millis = prev.millis;
		next.counter = static_cast<int32_t>(prev_counter + 1);
	}
	else
		next.millis = prev.millis + 1;
	return mmr_global_id_make(&next, id);
}
