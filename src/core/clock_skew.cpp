/*
 * clock_skew.cpp
 *	  Waiting out remote commit times that are ahead of the local clock
 *	  (docs/conflicts.md, "Timestamps that respect causality").
 *
 *	  last_update_wins converges only when a causally later write has a
 *	  later commit time.  Apply therefore waits, before a remote transaction,
 *	  until the local clock is past its commit time: a local write made after
 *	  seeing it then commits strictly later.  Within max_skew the wait is
 *	  silent; beyond it apply warns, and waits only with the wait action.
 */
#include "mmr_core.h"

#include "core_only.hpp"

extern "C" void
mmr_clock_skew_decide(int64_t remote_commit_time, int64_t now, int64_t max_skew, int action,
					  MmrSkewDecision *out) noexcept
{
	if (out == nullptr)
		return;
	/* Saturating, so that garbage times cannot overflow. */
	int64_t		ahead_by;

	if (__builtin_sub_overflow(remote_commit_time, now, &ahead_by))
		ahead_by = remote_commit_time > now ? INT64_MAX : INT64_MIN;
	if (max_skew < 0)
		max_skew = 0;

	out->ahead_by = ahead_by;
	out->warn = ahead_by > max_skew;
	out->wait_until = 0;
	/* Equal times wait too: a local write must commit strictly later. */
	if (ahead_by >= 0 && remote_commit_time < INT64_MAX &&
		(!out->warn || action == MMR_SKEW_ACTION_WAIT))
		out->wait_until = remote_commit_time + 1;
}
