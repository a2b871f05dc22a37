/*
 * conflict_test.cpp
 *	  mmr_conflict_decide against docs/conflicts.md: every conflict type
 *	  under every built-in resolver with later, earlier, tied and unknown
 *	  local versions; seen() against concurrent; the tombstone rules;
 *	  custom and error resolvers; unique value claims; names.
 */
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conflict_facts.hpp"
#include "mmr_core.h"

namespace
{

using namespace mmr_test;

constexpr int32_t kLocal = 1;	/* this node, "n1" */
constexpr int32_t kSender = 2;	/* the peer the change comes from, "n2" */
constexpr int32_t kThird = 3;	/* another peer, "n3" */

/* The built-in resolvers that compare versions, in the order of Scenario::wins. */
const MmrResolverKind kComparing[] = {
	MMR_RESOLVER_LAST_UPDATE_WINS, MMR_RESOLVER_FIRST_UPDATE_WINS, MMR_RESOLVER_ORIGIN_WINS,
	MMR_RESOLVER_APPLY_REMOTE, MMR_RESOLVER_KEEP_LOCAL,
};

/* A local version against the remote change, and who wins under each resolver. */
struct Scenario
{
	const char *name;
	MmrVersion	local;
	MmrVersion	remote;
	bool		wins[5];		/* remote wins? in kComparing order */
};

const std::vector<Scenario> &
scenarios()
{
	static const std::vector<Scenario> all = {
		{"remote later", version(kThird, "n3", 100), version(kSender, "n2", 200),
		 {true, false, true, true, false}},
		{"remote earlier", version(kThird, "n3", 200), version(kSender, "n2", 100),
		 {false, true, false, true, false}},
		{"equal times, remote name greater", version(kLocal, "n1", 100),
		 version(kSender, "n2", 100), {true, true, true, true, false}},
		{"equal times, remote name smaller", version(kThird, "n3", 100),
		 version(kSender, "n2", 100), {false, false, false, true, false}},
		{"equal times and names", version(4, "n2", 100), version(kSender, "n2", 100),
		 {true, true, true, true, false}},
		{"unknown local time", version(kThird, "n3", 500, 0, false),
		 version(kSender, "n2", 100), {true, false, true, true, false}},
		{"higher local priority, remote later", version(kThird, "n3", 100, 5),
		 version(kSender, "n2", 200, 1), {true, false, false, true, false}},
		{"higher remote priority, remote earlier", version(kThird, "n3", 200, 1),
		 version(kSender, "n2", 100, 5), {false, true, true, true, false}},
	};

	return all;
}

/* How one conflict type is provoked and what winning or losing does. */
struct TypeCase
{
	MmrConflictType type;
	MmrChangeKind change;
	enum { ROW, OTHER_ROW, TOMBSTONE } local;
	MmrApplyAction win_action;
	MmrApplyAction lose_action;
	MmrResolution lose_resolution;
	bool		checks_seen;	/* unknown local time = seen: no conflict */
	bool		logged_on_win;	/* insert_deleted: only when the tombstone wins */
	bool		tombstone_on_win;
};

const TypeCase kVersionedTypes[] = {
	{MMR_CONFLICT_INSERT_EXISTS, MMR_CHANGE_INSERT, TypeCase::ROW, MMR_ACTION_UPDATE,
	 MMR_ACTION_NOTHING, MMR_RESOLUTION_KEEP_LOCAL, true, true, false},
	{MMR_CONFLICT_INSERT_EXISTS, MMR_CHANGE_INSERT, TypeCase::OTHER_ROW,
	 MMR_ACTION_DELETE_OTHER, MMR_ACTION_NOTHING, MMR_RESOLUTION_KEEP_LOCAL, true, true, true},
	{MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS, MMR_CHANGE_UPDATE, TypeCase::ROW, MMR_ACTION_UPDATE,
	 MMR_ACTION_NOTHING, MMR_RESOLUTION_KEEP_LOCAL, true, true, false},
	{MMR_CONFLICT_UPDATE_EXISTS, MMR_CHANGE_UPDATE, TypeCase::OTHER_ROW,
	 MMR_ACTION_DELETE_OTHER, MMR_ACTION_NOTHING, MMR_RESOLUTION_KEEP_LOCAL, true, true, true},
	{MMR_CONFLICT_UPDATE_DELETED, MMR_CHANGE_UPDATE, TypeCase::TOMBSTONE, MMR_ACTION_INSERT,
	 MMR_ACTION_NOTHING, MMR_RESOLUTION_SKIP, false, true, false},
	{MMR_CONFLICT_DELETE_ORIGIN_DIFFERS, MMR_CHANGE_DELETE, TypeCase::ROW, MMR_ACTION_DELETE,
	 MMR_ACTION_NOTHING, MMR_RESOLUTION_KEEP_LOCAL, true, true, true},
	{MMR_CONFLICT_INSERT_DELETED, MMR_CHANGE_INSERT, TypeCase::TOMBSTONE, MMR_ACTION_INSERT,
	 MMR_ACTION_NOTHING, MMR_RESOLUTION_SKIP, true, false, false},
};

Facts
provoke(const TypeCase &tc, const Scenario &s, MmrResolverKind resolver)
{
	Facts		facts(tc.change, kLocal);

	facts.all_resolvers(MMR_RESOLVER_KEEP_LOCAL).resolver(tc.type, resolver).remote(s.remote);
	if (tc.local == TypeCase::TOMBSTONE)
		facts.tombstone(s.local);
	else
		facts.row(s.local, tc.local == TypeCase::OTHER_ROW);
	return facts;
}

std::string
describe(const TypeCase &tc, const Scenario &s, MmrResolverKind resolver)
{
	return std::string(mmr_conflict_type_name(tc.type)) +
		(tc.local == TypeCase::OTHER_ROW ? " (other row)" : "") + ", " + s.name + ", " +
		mmr_resolver_name(resolver);
}

TEST(ConflictDecide, EveryTypeEveryResolverEveryScenario)
{
	int			checked = 0;

	for (const TypeCase &tc : kVersionedTypes)
		for (const Scenario &s : scenarios())
			for (size_t r = 0; r < std::size(kComparing); r++)
			{
				MmrResolverKind resolver = kComparing[r];
				Facts		facts = provoke(tc, s, resolver);
				MmrConflictDecision d = facts.decide();
				std::string what = describe(tc, s, resolver);

				ASSERT_EQ(facts.last_status, MMR_OK) << what << ": " << facts.last_error;
				EXPECT_EQ(d.call_custom, 0) << what;
				checked++;
				if (tc.checks_seen && !s.local.time_known)
				{
					EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE) << what;
					EXPECT_EQ(d.action, tc.win_action) << what;
					continue;
				}
				bool		wins = s.wins[r];

				if (wins && !tc.logged_on_win)
				{
					EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE) << what;
					EXPECT_EQ(d.resolution, MMR_RESOLUTION_NONE) << what;
					EXPECT_EQ(d.action, tc.win_action) << what;
					continue;
				}
				EXPECT_EQ(d.conflict, tc.type) << what;
				EXPECT_EQ(d.resolver, resolver) << what;
				EXPECT_EQ(d.action, wins ? tc.win_action : tc.lose_action) << what;
				EXPECT_EQ(d.resolution, wins ? MMR_RESOLUTION_APPLY_REMOTE : tc.lose_resolution)
					<< what;
				EXPECT_EQ(d.record_tombstone, wins && tc.tombstone_on_win ? 1 : 0) << what;
			}
	EXPECT_EQ(checked, 7 * 8 * 5);
}

TEST(ConflictDecide, ErrorResolverStopsEveryConflictType)
{
	for (const TypeCase &tc : kVersionedTypes)
		for (const Scenario &s : scenarios())
		{
			if (tc.checks_seen && !s.local.time_known)
				continue;
			Facts		facts = provoke(tc, s, MMR_RESOLVER_ERROR);
			MmrConflictDecision d = facts.decide();
			std::string what = describe(tc, s, MMR_RESOLVER_ERROR);

			ASSERT_EQ(facts.last_status, MMR_OK) << what;
			EXPECT_EQ(d.conflict, tc.type) << what;
			EXPECT_EQ(d.resolver, MMR_RESOLVER_ERROR) << what;
			EXPECT_EQ(d.action, MMR_ACTION_ERROR) << what;
			EXPECT_EQ(d.resolution, MMR_RESOLUTION_ERROR) << what;
			EXPECT_EQ(d.record_tombstone, 0) << what;
		}
}

TEST(ConflictDecide, CustomResolverOnlyForTheFiveTypes)
{
	for (const TypeCase &tc : kVersionedTypes)
	{
		const Scenario &s = scenarios()[0];
		Facts		facts = provoke(tc, s, MMR_RESOLVER_CUSTOM);
		MmrConflictDecision d = facts.decide();
		std::string what = describe(tc, s, MMR_RESOLVER_CUSTOM);

		if (tc.local == TypeCase::OTHER_ROW)
		{
			/* A function decides rows, not who holds a unique value. */
			ASSERT_EQ(facts.last_status, MMR_OK) << what;
			EXPECT_EQ(d.call_custom, 0) << what;
			EXPECT_EQ(d.resolver, MMR_RESOLVER_LAST_UPDATE_WINS) << what;
		}
		else if (mmr_conflict_custom_allowed(tc.type))
		{
			ASSERT_EQ(facts.last_status, MMR_OK) << what;
			EXPECT_EQ(d.conflict, tc.type) << what;
			EXPECT_EQ(d.resolver, MMR_RESOLVER_CUSTOM) << what;
			EXPECT_EQ(d.call_custom, 1) << what;
			EXPECT_EQ(d.action, tc.win_action) << what;
		}
		else
		{
			EXPECT_EQ(facts.last_status, MMR_ERR_INVALID_ARGUMENT) << what;
			EXPECT_NE(facts.last_error.find("custom resolver cannot decide"), std::string::npos)
				<< facts.last_error;
		}
	}
	/* update_missing is the fifth: the function gets a NULL local row. */
	Facts		missing(MMR_CHANGE_UPDATE);

	missing.resolver(MMR_CONFLICT_UPDATE_MISSING, MMR_RESOLVER_CUSTOM)
		.remote(version(kSender, "n2", 100));
	MmrConflictDecision d = missing.decide();

	EXPECT_EQ(d.conflict, MMR_CONFLICT_UPDATE_MISSING);
	EXPECT_EQ(d.call_custom, 1);
	EXPECT_EQ(d.action, MMR_ACTION_INSERT);

	Facts		delete_missing(MMR_CHANGE_DELETE);

	delete_missing.resolver(MMR_CONFLICT_DELETE_MISSING, MMR_RESOLVER_CUSTOM)
		.remote(version(kSender, "n2", 100));
	delete_missing.decide();
	EXPECT_EQ(delete_missing.last_status, MMR_ERR_INVALID_ARGUMENT);
}

TEST(ConflictDecide, UpdateMissingInsertsUnderEveryResolverButKeepLocal)
{
	for (MmrResolverKind r : kComparing)
	{
		Facts		facts(MMR_CHANGE_UPDATE);

		facts.all_resolvers(r).remote(version(kSender, "n2", 100));
		MmrConflictDecision d = facts.decide();

		EXPECT_EQ(d.conflict, MMR_CONFLICT_UPDATE_MISSING) << mmr_resolver_name(r);
		EXPECT_EQ(d.resolver, r);
		if (r == MMR_RESOLVER_KEEP_LOCAL)
		{
			EXPECT_EQ(d.action, MMR_ACTION_NOTHING);
			EXPECT_EQ(d.resolution, MMR_RESOLUTION_SKIP);
		}
		else
		{
			EXPECT_EQ(d.action, MMR_ACTION_INSERT) << mmr_resolver_name(r);
			EXPECT_EQ(d.resolution, MMR_RESOLUTION_APPLY_REMOTE);
		}
	}
	Facts		error(MMR_CHANGE_UPDATE);

	error.all_resolvers(MMR_RESOLVER_ERROR).remote(version(kSender, "n2", 100));
	EXPECT_EQ(error.decide().action, MMR_ACTION_ERROR);
}

TEST(ConflictDecide, DeleteMissingSkipsAndRecordsATombstone)
{
	for (MmrResolverKind r : kComparing)
	{
		Facts		facts(MMR_CHANGE_DELETE);

		facts.all_resolvers(r).remote(version(kSender, "n2", 100));
		MmrConflictDecision d = facts.decide();

		EXPECT_EQ(d.conflict, MMR_CONFLICT_DELETE_MISSING) << mmr_resolver_name(r);
		EXPECT_EQ(d.resolver, r);
		EXPECT_EQ(d.action, MMR_ACTION_NOTHING);
		EXPECT_EQ(d.resolution, MMR_RESOLUTION_SKIP);
		EXPECT_EQ(d.record_tombstone, 1);
	}
	Facts		error(MMR_CHANGE_DELETE);

	error.all_resolvers(MMR_RESOLVER_ERROR).remote(version(kSender, "n2", 100));
	MmrConflictDecision d = error.decide();

	EXPECT_EQ(d.action, MMR_ACTION_ERROR);
	EXPECT_EQ(d.resolution, MMR_RESOLUTION_ERROR);
	EXPECT_EQ(d.record_tombstone, 0);
}

/* The existing tombstone is kept when it is newer (last_update_wins order). */
TEST(ConflictDecide, DeleteMissingRefreshesOnlyAnOlderTombstone)
{
	struct
	{
		MmrVersion	existing;
		bool		refresh;
	}			cases[] = {
		{version(kThird, "n3", 50), true},
		{version(kThird, "n3", 150), false},
		{version(kLocal, "n1", 100), true},		/* tie, remote name greater */
		{version(kThird, "n3", 100), false},	/* tie, remote name smaller */
		{version(kThird, "n3", 900, 0, false), true},	/* unknown time */
	};

	for (const auto &c : cases)
	{
		Facts		facts(MMR_CHANGE_DELETE);

		facts.tombstone(c.existing).remote(version(kSender, "n2", 100));
		MmrConflictDecision d = facts.decide();

		EXPECT_EQ(d.conflict, MMR_CONFLICT_DELETE_MISSING);
		EXPECT_EQ(d.record_tombstone, c.refresh ? 1 : 0) << c.existing.commit_time;
	}
}

/*
 * The tombstone holds the winning delete in the order of the delete_missing
 * resolver, so that every node answers later writes alike.
 */
TEST(ConflictDecide, TombstoneOrderFollowsTheDeleteResolver)
{
	struct
	{
		MmrResolverKind resolver;
		MmrVersion	existing;
		bool		refresh;
	}			cases[] = {
		{MMR_RESOLVER_FIRST_UPDATE_WINS, version(kThird, "n3", 50), false},
		{MMR_RESOLVER_FIRST_UPDATE_WINS, version(kThird, "n3", 150), true},
		{MMR_RESOLVER_ORIGIN_WINS, version(kThird, "n3", 50, 1), false},
		{MMR_RESOLVER_ORIGIN_WINS, version(kThird, "n3", 150, -1), true},
		{MMR_RESOLVER_ORIGIN_WINS, version(kThird, "n3", 50), true},	/* equal: later */
	};

	for (const auto &c : cases)
	{
		Facts		facts(MMR_CHANGE_DELETE);

		facts.resolver(MMR_CONFLICT_DELETE_MISSING, c.resolver)
			.tombstone(c.existing).remote(version(kSender, "n2", 100));
		EXPECT_EQ(facts.decide().record_tombstone, c.refresh ? 1 : 0)
			<< mmr_resolver_name(c.resolver) << " " << c.existing.commit_time;

		/* An applied delete keeps the same order. */
		facts.row(version(kSender, "n2", 80));
		EXPECT_EQ(facts.decide().record_tombstone, c.refresh ? 1 : 0)
			<< mmr_resolver_name(c.resolver) << " applied " << c.existing.commit_time;
	}
}

/* A delete made after seeing the tombstone's delete replaces it. */
TEST(ConflictDecide, DeleteThatSawTheTombstoneReplacesIt)
{
	Facts		facts(MMR_CHANGE_DELETE);

	facts.tombstone(version(kThird, "n3", 150)).remote(version(kSender, "n2", 100));
	EXPECT_EQ(facts.decide().record_tombstone, 0);
	facts.seen_up_to(kThird, 150);
	EXPECT_EQ(facts.decide().record_tombstone, 1);
	facts.row(version(kSender, "n2", 80));
	EXPECT_EQ(facts.decide().record_tombstone, 1);
}

TEST(ConflictDecide, AppliedDeleteKeepsANewerTombstone)
{
	/* The row was re-inserted after a later delete lost to it somewhere. */
	Facts		facts(MMR_CHANGE_DELETE);

	facts.row(version(kSender, "n2", 80))
		.tombstone(version(kThird, "n3", 150))
		.remote(version(kSender, "n2", 100));
	MmrConflictDecision d = facts.decide();

	EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE);
	EXPECT_EQ(d.action, MMR_ACTION_DELETE);
	EXPECT_EQ(d.record_tombstone, 0);

	facts.tombstone(version(kThird, "n3", 50));
	EXPECT_EQ(facts.decide().record_tombstone, 1);
}

TEST(ConflictDecide, NothingThereInsertsWithoutAConflict)
{
	Facts		facts(MMR_CHANGE_INSERT);

	facts.all_resolvers(MMR_RESOLVER_ERROR).remote(version(kSender, "n2", 100));
	MmrConflictDecision d = facts.decide();

	EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE);
	EXPECT_EQ(d.action, MMR_ACTION_INSERT);
	EXPECT_EQ(d.record_tombstone, 0);
}

/* seen(): causally later changes apply whatever the timestamps and resolver. */
TEST(ConflictDecide, SeenVersionsAreNotConflicts)
{
	struct
	{
		const char *what;
		MmrChangeKind change;
		MmrApplyAction action;
	}			changes[] = {
		{"insert", MMR_CHANGE_INSERT, MMR_ACTION_UPDATE},
		{"update", MMR_CHANGE_UPDATE, MMR_ACTION_UPDATE},
		{"delete", MMR_CHANGE_DELETE, MMR_ACTION_DELETE},
	};

	for (const auto &c : changes)
	{
		/* The sender's own earlier version: FIFO link, even with a later timestamp. */
		Facts		own(c.change);

		own.all_resolvers(MMR_RESOLVER_KEEP_LOCAL)
			.row(version(kSender, "n2", 900))
			.remote(version(kSender, "n2", 100));
		MmrConflictDecision d = own.decide();

		EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE) << c.what;
		EXPECT_EQ(d.action, c.action) << c.what;
		EXPECT_EQ(d.record_tombstone, c.change == MMR_CHANGE_DELETE ? 1 : 0);

		/* A third node's version the sender had applied (horizon at or past it). */
		for (int64_t applied : {int64_t{500}, int64_t{501}})
		{
			Facts		third(c.change);

			third.all_resolvers(MMR_RESOLVER_KEEP_LOCAL)
				.row(version(kThird, "n3", 500))
				.remote(version(kSender, "n2", 100))
				.seen_up_to(kLocal, 0)
				.seen_up_to(kThird, applied);
			d = third.decide();
			EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE) << c.what << " " << applied;
			EXPECT_EQ(d.action, c.action) << c.what;
		}

		/* A row written here, covered by the sender's entry for this node. */
		Facts		local(c.change);

		local.row(version(kLocal, "n1", 500)).remote(version(kSender, "n2", 100))
			.seen_up_to(kLocal, 600);
		EXPECT_EQ(local.decide().conflict, MMR_CONFLICT_NONE) << c.what;
	}
}

TEST(ConflictDecide, UnseenVersionsAreConcurrent)
{
	struct
	{
		const char *what;
		std::vector<MmrHorizonEntry> horizon;
	}			horizons[] = {
		{"no horizon", {}},
		{"horizon behind the version", {{kThird, 499}, {kLocal, 1000}}},
		{"horizon without the origin", {{kLocal, 1000}}},
	};

	for (const auto &h : horizons)
	{
		Facts		facts(MMR_CHANGE_UPDATE);

		facts.row(version(kThird, "n3", 500)).remote(version(kSender, "n2", 600));
		facts.horizon = h.horizon;
		MmrConflictDecision d = facts.decide();

		EXPECT_EQ(d.conflict, MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS) << h.what;
		EXPECT_EQ(d.resolution, MMR_RESOLUTION_APPLY_REMOTE) << h.what;
		EXPECT_EQ(d.action, MMR_ACTION_UPDATE) << h.what;
	}
	/* An origin that maps to no node is never seen. */
	Facts		unknown(MMR_CHANGE_UPDATE);

	unknown.row(version(MMR_NODE_UNKNOWN, "", 500)).remote(version(kSender, "n2", 600))
		.seen_up_to(MMR_NODE_UNKNOWN, 1000);
	EXPECT_EQ(unknown.decide().conflict, MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS);
}

TEST(ConflictDecide, InsertAfterASeenDeleteIsNotAConflict)
{
	/* Deleted at 900 on n3; the sender re-inserted after applying the delete. */
	Facts		facts(MMR_CHANGE_INSERT);

	facts.all_resolvers(MMR_RESOLVER_KEEP_LOCAL)
		.tombstone(version(kThird, "n3", 900))
		.remote(version(kSender, "n2", 100))
		.seen_up_to(kThird, 900);
	MmrConflictDecision d = facts.decide();

	EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE);
	EXPECT_EQ(d.action, MMR_ACTION_INSERT);
}

/* A late old INSERT (via another peer) must not resurrect a deleted row. */
TEST(ConflictDecide, LateInsertOlderThanTheDeleteIsSkipped)
{
	Facts		facts(MMR_CHANGE_INSERT);

	facts.tombstone(version(kThird, "n3", 900)).remote(version(kSender, "n2", 100));
	MmrConflictDecision d = facts.decide();

	EXPECT_EQ(d.conflict, MMR_CONFLICT_INSERT_DELETED);
	EXPECT_EQ(d.resolution, MMR_RESOLUTION_SKIP);
	EXPECT_EQ(d.action, MMR_ACTION_NOTHING);
	EXPECT_EQ(d.record_tombstone, 0);
}

TEST(ConflictDecide, UpdateDeletedComparesWithTheDelete)
{
	Facts		later(MMR_CHANGE_UPDATE);

	later.tombstone(version(kThird, "n3", 100)).remote(version(kSender, "n2", 200));
	MmrConflictDecision d = later.decide();

	EXPECT_EQ(d.conflict, MMR_CONFLICT_UPDATE_DELETED);
	EXPECT_EQ(d.resolution, MMR_RESOLUTION_APPLY_REMOTE);
	EXPECT_EQ(d.action, MMR_ACTION_INSERT);

	Facts		earlier(MMR_CHANGE_UPDATE);

	earlier.tombstone(version(kThird, "n3", 300)).remote(version(kSender, "n2", 200));
	d = earlier.decide();
	EXPECT_EQ(d.conflict, MMR_CONFLICT_UPDATE_DELETED);
	EXPECT_EQ(d.resolution, MMR_RESOLUTION_SKIP);
	EXPECT_EQ(d.action, MMR_ACTION_NOTHING);
}

/* Every node takes the same decision: exactly one of two versions wins. */
TEST(ConflictDecide, TiesAreAntisymmetric)
{
	const char *names[] = {"a", "b", "n1", "n10", "n2"};

	for (MmrResolverKind r : {MMR_RESOLVER_LAST_UPDATE_WINS, MMR_RESOLVER_FIRST_UPDATE_WINS,
							  MMR_RESOLVER_ORIGIN_WINS})
		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 5; j++)
			{
				if (i == j)
					continue;
				MmrVersion	a = version(2 + i, names[i], 100);
				MmrVersion	b = version(2 + j, names[j], 100);
				Facts		ab(MMR_CHANGE_UPDATE);
				Facts		ba(MMR_CHANGE_UPDATE);

				ab.all_resolvers(r).row(b).remote(a);
				ba.all_resolvers(r).row(a).remote(b);
				bool		a_wins_at_b = ab.decide().action == MMR_ACTION_UPDATE;
				bool		b_wins_at_a = ba.decide().action == MMR_ACTION_UPDATE;

				EXPECT_NE(a_wins_at_b, b_wins_at_a) << names[i] << " vs " << names[j];
				EXPECT_EQ(a_wins_at_b, std::string(names[i]) > names[j]);
			}
}

TEST(ConflictDecide, BadFactsAreErrors)
{
	MmrConflictDecision d{};
	MmrError	err{};

	EXPECT_EQ(mmr_conflict_decide(nullptr, &d, &err), MMR_ERR_INVALID_ARGUMENT);
	Facts		ok(MMR_CHANGE_INSERT);

	EXPECT_EQ(mmr_conflict_decide(&ok.f, nullptr, &err), MMR_ERR_INVALID_ARGUMENT);

	Facts		kind(MMR_CHANGE_INSERT);

	kind.f.change = 9;
	kind.decide();
	EXPECT_EQ(kind.last_status, MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(kind.last_error, "unknown change kind 9");

	Facts		resolver(MMR_CHANGE_UPDATE);

	resolver.row(version(kThird, "n3", 1)).remote(version(kSender, "n2", 2))
		.resolver(MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS, static_cast<MmrResolverKind>(42));
	resolver.decide();
	EXPECT_EQ(resolver.last_status, MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(resolver.last_error, "unknown resolver 42 for conflict type \"update_origin_differs\"");

	Facts		horizon(MMR_CHANGE_INSERT);

	horizon.f.nhorizon = 3;
	EXPECT_EQ(mmr_conflict_decide(&horizon.f, &d, &err), MMR_ERR_INVALID_ARGUMENT);
	EXPECT_STREQ(err.message, "horizon of 3 entries is null");
}

TEST(ConflictNames, RoundTripAndUnknown)
{
	const char *types[] = {"insert_exists", "update_origin_differs", "update_exists",
		"update_missing", "update_deleted", "delete_origin_differs", "delete_missing",
		"insert_deleted"};

	for (int t = 1; t < MMR_CONFLICT_NTYPES; t++)
	{
		EXPECT_STREQ(mmr_conflict_type_name(t), types[t - 1]);
		EXPECT_EQ(mmr_conflict_type_from_name(types[t - 1]), t);
	}
	EXPECT_EQ(mmr_conflict_type_name(MMR_CONFLICT_NONE), nullptr);
	EXPECT_EQ(mmr_conflict_type_name(MMR_CONFLICT_NTYPES), nullptr);
	EXPECT_EQ(mmr_conflict_type_name(-1), nullptr);
	EXPECT_EQ(mmr_conflict_type_from_name("Insert_Exists"), -1);
	EXPECT_EQ(mmr_conflict_type_from_name("multiple_unique_conflicts"), -1);
	EXPECT_EQ(mmr_conflict_type_from_name(""), -1);
	EXPECT_EQ(mmr_conflict_type_from_name(nullptr), -1);

	const char *resolvers[] = {"last_update_wins", "first_update_wins", "origin_wins",
		"apply_remote", "keep_local", "error", "custom"};

	for (int r = 0; r <= MMR_RESOLVER_CUSTOM; r++)
	{
		EXPECT_STREQ(mmr_resolver_name(r), resolvers[r]);
		EXPECT_EQ(mmr_resolver_from_name(resolvers[r]), r);
	}
	EXPECT_EQ(mmr_resolver_name(7), nullptr);
	EXPECT_EQ(mmr_resolver_name(-1), nullptr);
	EXPECT_EQ(mmr_resolver_from_name("LAST_UPDATE_WINS"), -1);
	EXPECT_EQ(mmr_resolver_from_name(nullptr), -1);

	const char *resolutions[] = {"apply_remote", "keep_local", "merged", "skip", "error"};

	for (int r = MMR_RESOLUTION_APPLY_REMOTE; r <= MMR_RESOLUTION_ERROR; r++)
		EXPECT_STREQ(mmr_resolution_name(r), resolutions[r - 1]);
	EXPECT_EQ(mmr_resolution_name(MMR_RESOLUTION_NONE), nullptr);
	EXPECT_EQ(mmr_resolution_name(MMR_RESOLUTION_ERROR + 1), nullptr);
}

TEST(ConflictNames, CustomAllowedForExactlyFiveTypes)
{
	int			allowed = 0;

	for (int t = -1; t <= MMR_CONFLICT_NTYPES; t++)
		allowed += mmr_conflict_custom_allowed(t);
	EXPECT_EQ(allowed, 5);
	EXPECT_TRUE(mmr_conflict_custom_allowed(MMR_CONFLICT_UPDATE_DELETED));
	EXPECT_TRUE(mmr_conflict_custom_allowed(MMR_CONFLICT_UPDATE_MISSING));
	EXPECT_FALSE(mmr_conflict_custom_allowed(MMR_CONFLICT_DELETE_MISSING));
	EXPECT_FALSE(mmr_conflict_custom_allowed(MMR_CONFLICT_INSERT_DELETED));
	EXPECT_FALSE(mmr_conflict_custom_allowed(MMR_CONFLICT_DELETE_ORIGIN_DIFFERS));
}

}							/* namespace */

namespace
{

using namespace mmr_test;

/* mmr_unique_claim: a change against the register of one of its unique values. */
TEST(UniqueClaim, SeenOrLaterClaims)
{
	struct
	{
		const char *what;
		MmrVersion	holder;
		std::vector<MmrHorizonEntry> horizon;
		bool		claimed;
		bool		conflict;
	}			cases[] = {
		{"older holder", version(3, "n3", 100), {}, true, true},
		{"newer holder", version(3, "n3", 300), {}, false, true},
		{"newer holder the sender had seen", version(3, "n3", 300), {{3, 300}}, true, false},
		{"the sender's own earlier write", version(2, "n2", 900), {}, true, false},
		{"tie, holder name smaller", version(1, "n1", 200), {}, true, true},
		{"tie, holder name greater", version(3, "n3", 200), {}, false, true},
		{"unknown holder time", version(3, "n3", 900, 0, false), {}, true, false},
	};

	for (MmrChangeKind change : {MMR_CHANGE_INSERT, MMR_CHANGE_UPDATE})
		for (const auto &c : cases)
		{
			Facts		facts(change);

			facts.remote(version(2, "n2", 200));
			facts.horizon = c.horizon;
			facts.f.horizon = facts.horizon.empty() ? nullptr : facts.horizon.data();
			facts.f.nhorizon = static_cast<uint32_t>(facts.horizon.size());
			MmrConflictDecision d{};
			MmrError	err{};

			ASSERT_EQ(mmr_unique_claim(&facts.f, &c.holder, &d, &err), MMR_OK) << err.message;
			EXPECT_EQ(d.action, c.claimed ? MMR_ACTION_DELETE_OTHER : MMR_ACTION_NOTHING) << c.what;
			EXPECT_EQ(d.record_tombstone, c.claimed ? 1 : 0) << c.what;
			if (!c.conflict)
			{
				EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE) << c.what;
				continue;
			}
			EXPECT_EQ(d.conflict, change == MMR_CHANGE_INSERT ? MMR_CONFLICT_INSERT_EXISTS
					  : MMR_CONFLICT_UPDATE_EXISTS) << c.what;
			EXPECT_EQ(d.resolution, c.claimed ? MMR_RESOLUTION_APPLY_REMOTE
					  : MMR_RESOLUTION_KEEP_LOCAL) << c.what;
		}
}

TEST(UniqueClaim, NoRegisterClaims)
{
	Facts		facts(MMR_CHANGE_INSERT);
	MmrConflictDecision d{};

	facts.remote(version(2, "n2", 200));
	ASSERT_EQ(mmr_unique_claim(&facts.f, nullptr, &d, nullptr), MMR_OK);
	EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE);
	EXPECT_EQ(d.action, MMR_ACTION_DELETE_OTHER);
}

TEST(UniqueClaim, ResolversAndBadInput)
{
	MmrVersion	newer = version(3, "n3", 300);
	Facts		facts(MMR_CHANGE_UPDATE);
	MmrConflictDecision d{};
	MmrError	err{};

	facts.remote(version(2, "n2", 200));
	facts.resolver(MMR_CONFLICT_UPDATE_EXISTS, MMR_RESOLVER_APPLY_REMOTE);
	ASSERT_EQ(mmr_unique_claim(&facts.f, &newer, &d, &err), MMR_OK);
	EXPECT_EQ(d.action, MMR_ACTION_DELETE_OTHER);
	EXPECT_EQ(d.resolver, MMR_RESOLVER_APPLY_REMOTE);

	facts.resolver(MMR_CONFLICT_UPDATE_EXISTS, MMR_RESOLVER_CUSTOM);
	ASSERT_EQ(mmr_unique_claim(&facts.f, &newer, &d, &err), MMR_OK);
	EXPECT_EQ(d.action, MMR_ACTION_NOTHING);
	EXPECT_EQ(d.resolver, MMR_RESOLVER_LAST_UPDATE_WINS);
	EXPECT_EQ(d.call_custom, 0);

	facts.resolver(MMR_CONFLICT_UPDATE_EXISTS, MMR_RESOLVER_ERROR);
	ASSERT_EQ(mmr_unique_claim(&facts.f, &newer, &d, &err), MMR_OK);
	EXPECT_EQ(d.action, MMR_ACTION_ERROR);
	EXPECT_EQ(d.resolution, MMR_RESOLUTION_ERROR);

	Facts		del(MMR_CHANGE_DELETE);

	EXPECT_EQ(mmr_unique_claim(&del.f, &newer, &d, &err), MMR_ERR_INVALID_ARGUMENT);
	EXPECT_STREQ(err.message, "only an insert or an update claims unique values");
	EXPECT_EQ(mmr_unique_claim(nullptr, &newer, &d, &err), MMR_ERR_INVALID_ARGUMENT);
	facts.f.nhorizon = 2;
	facts.f.horizon = nullptr;
	EXPECT_EQ(mmr_unique_claim(&facts.f, &newer, &d, &err), MMR_ERR_INVALID_ARGUMENT);
}

}							/* namespace */
