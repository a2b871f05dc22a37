/*
 * global_id_test.cpp
 *	  The layout of global ids and the next-id rule: bits in place, limits,
 *	  a clock that stands still or goes back, a counter used up within one
 *	  millisecond, node numbers out of range.
 */
#include <cstdint>
#include <limits>
#include <set>

#include <gtest/gtest.h>

#include "mmr_core.h"

namespace
{

constexpr int64_t kMilli = 1000;	/* TimestampTz units */
constexpr int64_t kNowMillis = int64_t{10} * 24 * 3600 * 1000;	/* epoch + 10 days */
constexpr int64_t kNow = MMR_GLOBAL_ID_EPOCH + kNowMillis * kMilli;

int64_t
next_id(int64_t last, int64_t now, int32_t node)
{
	int64_t		id = -1;

	EXPECT_EQ(mmr_global_id_next(last, now, node, &id), MMR_GLOBAL_ID_OK);
	return id;
}

MmrGlobalIdParts
split(int64_t id)
{
	MmrGlobalIdParts p{};

	mmr_global_id_split(id, &p);
	return p;
}

TEST(GlobalId, BitLayout)
{
	MmrGlobalIdParts parts{5, 3, 7};
	int64_t		id = 0;

	ASSERT_EQ(mmr_global_id_make(&parts, &id), MMR_GLOBAL_ID_OK);
	EXPECT_EQ(id, (int64_t{5} << 22) | (int64_t{3} << 12) | 7);
	MmrGlobalIdParts back = split(id);

	EXPECT_EQ(back.millis, 5);
	EXPECT_EQ(back.node, 3);
	EXPECT_EQ(back.counter, 7);

	/* The largest id is the largest positive int64. */
	parts = {MMR_GLOBAL_ID_MAX_MILLIS, MMR_GLOBAL_ID_MAX_NODE, MMR_GLOBAL_ID_MAX_COUNTER};
	ASSERT_EQ(mmr_global_id_make(&parts, &id), MMR_GLOBAL_ID_OK);
	EXPECT_EQ(id, std::numeric_limits<int64_t>::max());
}

TEST(GlobalId, Limits)
{
	int64_t		id = 0;
	MmrGlobalIdParts parts{MMR_GLOBAL_ID_MAX_MILLIS + 1, 1, 0};

	EXPECT_EQ(mmr_global_id_make(&parts, &id), MMR_GLOBAL_ID_EXHAUSTED);
	parts = {0, 1, MMR_GLOBAL_ID_MAX_COUNTER + 1};
	EXPECT_EQ(mmr_global_id_make(&parts, &id), MMR_GLOBAL_ID_BAD_PART);
	parts = {-1, 1, 0};
	EXPECT_EQ(mmr_global_id_make(&parts, &id), MMR_GLOBAL_ID_BAD_PART);
	EXPECT_EQ(mmr_global_id_make(nullptr, &id), MMR_GLOBAL_ID_BAD_PART);

	/* 41 bits of milliseconds: more than 69 years after 2025. */
	EXPECT_GE(MMR_GLOBAL_ID_MAX_MILLIS / (1000LL * 3600 * 24 * 365), 69);

	/* The clock before the epoch (with no id to count on), and past the last millisecond. */
	EXPECT_EQ(mmr_global_id_next(0, MMR_GLOBAL_ID_EPOCH - 1, 1, &id), MMR_GLOBAL_ID_BEFORE_EPOCH);
	EXPECT_EQ(mmr_global_id_next(0, MMR_GLOBAL_ID_EPOCH + (MMR_GLOBAL_ID_MAX_MILLIS + 1) * kMilli, 1, &id),
			  MMR_GLOBAL_ID_EXHAUSTED);
	EXPECT_EQ(mmr_global_id_next(0, MMR_GLOBAL_ID_EPOCH, 1, nullptr), MMR_GLOBAL_ID_BAD_PART);
}

TEST(GlobalId, NodeOutOfRange)
{
	int64_t		id = 0;

	for (int32_t node : {0, -1, MMR_GLOBAL_ID_MAX_NODE + 1, std::numeric_limits<int32_t>::max()})
	{
		EXPECT_EQ(mmr_global_id_next(0, kNow, node, &id), MMR_GLOBAL_ID_BAD_NODE) << node;
		MmrGlobalIdParts parts{1, node, 0};

		EXPECT_EQ(mmr_global_id_make(&parts, &id), MMR_GLOBAL_ID_BAD_NODE) << node;
	}
	EXPECT_EQ(split(next_id(0, kNow, MMR_GLOBAL_ID_MAX_NODE)).node, MMR_GLOBAL_ID_MAX_NODE);
}

TEST(GlobalId, FirstIdTakesTheClock)
{
	for (int64_t none : {int64_t{0}, int64_t{-5}, int64_t{1}})
	{
		MmrGlobalIdParts p = split(next_id(none, kNow + 999, 7));

		EXPECT_EQ(p.millis, kNowMillis) << none;
		EXPECT_EQ(p.node, 7);
		EXPECT_EQ(p.counter, 0);
	}
}

TEST(GlobalId, SameMillisecondCounts)
{
	int64_t		a = next_id(0, kNow, 2);
	int64_t		b = next_id(a, kNow, 2);
	int64_t		c = next_id(b, kNow + 1, 2);	/* a microsecond later: same ms */

	EXPECT_EQ(b, a + 1);
	EXPECT_EQ(c, b + 1);
	int64_t		d = next_id(c, kNow + kMilli, 2);

	EXPECT_EQ(split(d).millis, split(a).millis + 1);
	EXPECT_EQ(split(d).counter, 0);
}

TEST(GlobalId, CounterOverflowBorrowsTheNextMillisecond)
{
	int64_t		id = next_id(0, kNow, 4);
	std::set<int64_t> seen{id};

	for (int i = 0; i < 3 * (MMR_GLOBAL_ID_MAX_COUNTER + 1); i++)
	{
		int64_t		next = next_id(id, kNow, 4);

		ASSERT_GT(next, id);
		ASSERT_TRUE(seen.insert(next).second);
		ASSERT_EQ(split(next).node, 4);
		id = next;
	}
	/* 3 * 4096 + 1 ids in one real millisecond: three borrowed ones. */
	EXPECT_EQ(split(id).millis, split(*seen.begin()).millis + 3);
	EXPECT_EQ(split(id).counter, 0);
	/* When the clock catches up, ids take it again. */
	EXPECT_EQ(split(next_id(id, kNow + 10 * kMilli, 4)).millis, split(*seen.begin()).millis + 10);
}

TEST(GlobalId, ClockBackwardsNeverRepeats)
{
	int64_t		id = next_id(0, kNow, 9);
	std::set<int64_t> seen{id};

	/* An hour back: 10000 ids count on from the last millisecond seen. */
	for (int i = 0; i < 10000; i++)
	{
		int64_t		next = next_id(id, kNow - 3600 * 1000 * kMilli, 9);

		ASSERT_GT(next, id);
		ASSERT_TRUE(seen.insert(next).second);
		id = next;
	}
	EXPECT_EQ(split(id).millis, kNowMillis + 10000 / (MMR_GLOBAL_ID_MAX_COUNTER + 1));
	/* The clock comes back but is still behind those ids: they go on. */
	EXPECT_EQ(next_id(id, kNow + kMilli, 9), id + 1);
	/* A clock before the epoch counts on too. */
	EXPECT_EQ(next_id(id, MMR_GLOBAL_ID_EPOCH - 1, 9), id + 1);
	/* The last millisecond before an overflow is the exhausted end. */
	int64_t		last = 0;
	MmrGlobalIdParts end{MMR_GLOBAL_ID_MAX_MILLIS, 9, MMR_GLOBAL_ID_MAX_COUNTER};

	ASSERT_EQ(mmr_global_id_make(&end, &last), MMR_GLOBAL_ID_OK);
	EXPECT_EQ(mmr_global_id_next(last, kNow, 9, &id), MMR_GLOBAL_ID_EXHAUSTED);
}

TEST(GlobalId, AnotherNodesLastKeepsOnlyItsTime)
{
	/* A sequence copied from node 3 at a join, now used on node 5. */
	int64_t		theirs = next_id(next_id(0, kNow, 3), kNow, 3);
	int64_t		ours = next_id(theirs, kNow - 50 * kMilli, 5);

	EXPECT_EQ(split(ours).millis, split(theirs).millis);
	EXPECT_EQ(split(ours).node, 5);
	EXPECT_EQ(split(ours).counter, 0);
	EXPECT_NE(ours, theirs);
}

TEST(GlobalId, NodesNeverMeet)
{
	std::set<int64_t> seen;

	for (int32_t node = 1; node <= 3; node++)
	{
		int64_t		id = 0;

		for (int i = 0; i < 5000; i++)
		{
			id = next_id(id, kNow + (i / 100) * kMilli, node);
			ASSERT_TRUE(seen.insert(id).second) << node << " " << i;
		}
	}
}

}							/* namespace */
