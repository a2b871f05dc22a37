/*
 * unchanged_rules_test.cpp
 *	  When a remote UPDATE's unchanged TOAST values come from its origin
 *	  rather than from the local row (mmr_unchanged_from_origin).
 */
#include <vector>

#include <gtest/gtest.h>

#include "conflict_facts.hpp"
#include "mmr_core.h"

using mmr_test::Facts;
using mmr_test::version;

namespace
{

/* Node 1 is local, node 2 the sender, node 3 a third origin. */
Facts
update_from_n2()
{
	Facts		facts(MMR_CHANGE_UPDATE, 1);

	facts.remote(version(2, "n2", 200));
	return facts;
}

MmrConflictDecision
decision(MmrConflictType conflict, MmrApplyAction action, bool custom = false)
{
	MmrConflictDecision d{};

	d.conflict = static_cast<uint8_t>(conflict);
	d.action = static_cast<uint8_t>(action);
	d.call_custom = custom ? 1 : 0;
	return d;
}

int
from_origin(Facts &facts, const MmrConflictDecision &d,
			const std::vector<MmrHorizonEntry> &local)
{
	facts.f.horizon = facts.horizon.empty() ? nullptr : facts.horizon.data();
	facts.f.nhorizon = static_cast<uint32_t>(facts.horizon.size());
	return mmr_unchanged_from_origin(&facts.f, &d, local.empty() ? nullptr : local.data(),
									 static_cast<uint32_t>(local.size()));
}

const MmrConflictDecision kApplied = decision(MMR_CONFLICT_NONE, MMR_ACTION_UPDATE);

}							/* namespace */

TEST(UnchangedFromOrigin, NoConflictAndNothingUnseenKeepsLocalValues)
{
	Facts		facts = update_from_n2();

	facts.row(version(1, "n1", 100)).seen_up_to(1, 100);
	EXPECT_EQ(from_origin(facts, kApplied, {}), 0);
}

TEST(UnchangedFromOrigin, MissingRowInsertedFetches)
{
	Facts		facts = update_from_n2();

	EXPECT_EQ(from_origin(facts, decision(MMR_CONFLICT_UPDATE_MISSING, MMR_ACTION_INSERT), {}), 1);
	EXPECT_EQ(from_origin(facts, decision(MMR_CONFLICT_UPDATE_DELETED, MMR_ACTION_INSERT), {}), 1);
}

TEST(UnchangedFromOrigin, RowNotStoredFetchesNothing)
{
	Facts		facts = update_from_n2();

	EXPECT_EQ(from_origin(facts, decision(MMR_CONFLICT_UPDATE_MISSING, MMR_ACTION_NOTHING), {}), 0);
	EXPECT_EQ(from_origin(facts, decision(MMR_CONFLICT_UPDATE_DELETED, MMR_ACTION_ERROR), {}), 0);
	facts.row(version(1, "n1", 300));
	EXPECT_EQ(from_origin(facts, decision(MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS, MMR_ACTION_NOTHING), {}), 0);
}

TEST(UnchangedFromOrigin, ConflictWonOrCustomFetches)
{
	Facts		facts = update_from_n2();

	facts.row(version(1, "n1", 150));
	EXPECT_EQ(from_origin(facts, decision(MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS, MMR_ACTION_UPDATE), {}), 1);
	EXPECT_EQ(from_origin(facts, decision(MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS, MMR_ACTION_NOTHING, true), {}), 1);
}

TEST(UnchangedFromOrigin, ThirdOriginTheSenderHadButWeNotFetches)
{
	Facts		facts = update_from_n2();

	facts.row(version(1, "n1", 100)).seen_up_to(1, 100).seen_up_to(3, 180);
	EXPECT_EQ(from_origin(facts, kApplied, {{3, 170}}), 1);
	EXPECT_EQ(from_origin(facts, kApplied, {}), 1);
	EXPECT_EQ(from_origin(facts, kApplied, {{3, 180}}), 0);
	EXPECT_EQ(from_origin(facts, kApplied, {{2, 10}, {3, 190}}), 0);
}

TEST(UnchangedFromOrigin, SenderAndLocalEntriesNeedNoCheck)
{
	Facts		facts = update_from_n2();

	/* The sender's entry for us, and one for itself, say nothing unseen. */
	facts.row(version(2, "n2", 150)).seen_up_to(1, 500).seen_up_to(2, 150);
	EXPECT_EQ(from_origin(facts, kApplied, {{2, 150}}), 0);
}

TEST(UnchangedFromOrigin, NoHorizonShowsNoThirdOrigin)
{
	Facts		facts = update_from_n2();

	/* The sender logs no horizon while it has applied nothing. */
	facts.row(version(2, "n2", 150));
	EXPECT_EQ(from_origin(facts, kApplied, {}), 0);
	EXPECT_EQ(from_origin(facts, decision(MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS, MMR_ACTION_UPDATE), {}), 1);
}

TEST(UnchangedFromOrigin, NullArgumentsFetchNothing)
{
	Facts		facts = update_from_n2();

	EXPECT_EQ(mmr_unchanged_from_origin(nullptr, &kApplied, nullptr, 0), 0);
	EXPECT_EQ(mmr_unchanged_from_origin(&facts.f, nullptr, nullptr, 0), 0);
}
