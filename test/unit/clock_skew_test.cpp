/*
 * clock_skew_test.cpp
 *	  mmr_clock_skew_decide: remote commit times ahead of the local clock are
 *	  waited out silently within max_skew; beyond it apply warns, and waits
 *	  only with the wait action; times behind the clock change nothing.
 */
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include "mmr_core.h"

namespace
{

constexpr int64_t kSecond = 1000000;
constexpr int64_t kNow = 1000 * kSecond;
constexpr int64_t kMax = 5 * kSecond;

MmrSkewDecision
decide(int64_t remote, int action, int64_t max_skew = kMax, int64_t now = kNow)
{
	MmrSkewDecision out{};

	mmr_clock_skew_decide(remote, now, max_skew, action, &out);
	return out;
}

TEST(ClockSkew, AheadWithinMaxWaitsSilently)
{
	for (int action : {MMR_SKEW_ACTION_WARN, MMR_SKEW_ACTION_WAIT})
		for (int64_t ahead : {int64_t{0}, int64_t{1}, 2 * kSecond, kMax})
		{
			MmrSkewDecision d = decide(kNow + ahead, action);

			EXPECT_EQ(d.ahead_by, ahead);
			EXPECT_EQ(d.warn, 0) << ahead;
			/* strictly past it, so that a later local write commits later */
			EXPECT_EQ(d.wait_until, kNow + ahead + 1) << ahead;
		}
}

TEST(ClockSkew, BeyondMaxWarnsAndWaitsOnlyWithWait)
{
	MmrSkewDecision warn = decide(kNow + kMax + 1, MMR_SKEW_ACTION_WARN);

	EXPECT_EQ(warn.ahead_by, kMax + 1);
	EXPECT_EQ(warn.warn, 1);
	EXPECT_EQ(warn.wait_until, 0);

	MmrSkewDecision wait = decide(kNow + 60 * kSecond, MMR_SKEW_ACTION_WAIT);

	EXPECT_EQ(wait.ahead_by, 60 * kSecond);
	EXPECT_EQ(wait.warn, 1);
	EXPECT_EQ(wait.wait_until, kNow + 60 * kSecond + 1);
}

TEST(ClockSkew, BehindDoesNothing)
{
	for (int action : {MMR_SKEW_ACTION_WARN, MMR_SKEW_ACTION_WAIT})
		for (int64_t behind : {int64_t{1}, kSecond, 3600 * kSecond})
		{
			MmrSkewDecision d = decide(kNow - behind, action);

			EXPECT_EQ(d.ahead_by, -behind);
			EXPECT_EQ(d.warn, 0);
			EXPECT_EQ(d.wait_until, 0);
		}
}

TEST(ClockSkew, ZeroMaxSkewWarnsForAnyLead)
{
	MmrSkewDecision d = decide(kNow + 1, MMR_SKEW_ACTION_WARN, 0);

	EXPECT_EQ(d.warn, 1);
	EXPECT_EQ(d.wait_until, 0);
	d = decide(kNow, MMR_SKEW_ACTION_WARN, 0);
	EXPECT_EQ(d.warn, 0);
	EXPECT_EQ(d.wait_until, kNow + 1);
}

TEST(ClockSkew, ExtremeTimesDoNotOverflow)
{
	constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();
	constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min();
	MmrSkewDecision d = decide(kMaxTime, MMR_SKEW_ACTION_WAIT, kMax, kMinTime);

	EXPECT_EQ(d.ahead_by, kMaxTime);
	EXPECT_EQ(d.warn, 1);
	EXPECT_EQ(d.wait_until, 0);		/* no local time is past it */
	d = decide(kMinTime, MMR_SKEW_ACTION_WAIT, kMax, kMaxTime);
	EXPECT_EQ(d.ahead_by, kMinTime);
	EXPECT_EQ(d.wait_until, 0);
	mmr_clock_skew_decide(kNow, kNow, kMax, MMR_SKEW_ACTION_WAIT, nullptr);
}

}							/* namespace */
