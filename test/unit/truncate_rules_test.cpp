/*
 * truncate_rules_test.cpp
 *	  TRUNCATE as a delete of every row: which local rows a remote truncate
 *	  removes, when its table tombstone replaces the one there, and when
 *	  the table tombstone rather than the key's answers a late write.
 */
#include <gtest/gtest.h>

#include "conflict_facts.hpp"
#include "mmr_core.h"

namespace
{

using mmr_test::Facts;
using mmr_test::version;

/* n1 truncates at 100; this is n2. */
const MmrVersion kTruncate = version(1, "n1", 100);

Facts
truncate_facts()
{
	Facts		f(MMR_CHANGE_DELETE, 2);

	f.remote(kTruncate);
	return f;
}

/* The facts, their horizon pointing into facts.horizon. */
const MmrConflictFacts *
ready(Facts &facts)
{
	facts.f.horizon = facts.horizon.empty() ? nullptr : facts.horizon.data();
	facts.f.nhorizon = static_cast<uint32_t>(facts.horizon.size());
	return &facts.f;
}

MmrConflictDecision
row_decide(Facts &facts, const MmrVersion &row)
{
	MmrConflictDecision out{};
	MmrError	err{};

	facts.row(row);
	EXPECT_EQ(mmr_truncate_row_decide(ready(facts), &out, &err), MMR_OK) << err.message;
	return out;
}

int
replaces(Facts &facts)
{
	int			replace = -1;
	MmrError	err{};

	EXPECT_EQ(mmr_truncate_tombstone_replace(ready(facts), &replace, &err), MMR_OK)
		<< err.message;
	return replace;
}

int
answers(Facts &facts, const MmrVersion &truncate)
{
	int			use = -1;
	MmrError	err{};

	EXPECT_EQ(mmr_truncate_tombstone_answers(ready(facts), &truncate, &use, &err), MMR_OK)
		<< err.message;
	return use;
}

TEST(TruncateRow, SeenRowGoesSilently)
{
	Facts		f = truncate_facts();

	f.seen_up_to(2, 90);
	MmrConflictDecision d = row_decide(f, version(2, "n2", 90));

	EXPECT_EQ(d.action, MMR_ACTION_DELETE);
	EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE);
	EXPECT_EQ(d.record_tombstone, 0);
}

TEST(TruncateRow, SendersOwnRowIsSeen)
{
	Facts		f = truncate_facts();
	MmrConflictDecision d = row_decide(f, version(1, "n1", 150));

	EXPECT_EQ(d.action, MMR_ACTION_DELETE);
	EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE);
}

TEST(TruncateRow, UnknownTimeIsSeen)
{
	Facts		f = truncate_facts();
	MmrConflictDecision d = row_decide(f, version(0, "", 0, 0, false));

	EXPECT_EQ(d.action, MMR_ACTION_DELETE);
	EXPECT_EQ(d.conflict, MMR_CONFLICT_NONE);
}

TEST(TruncateRow, ConcurrentOlderRowLoses)
{
	Facts		f = truncate_facts();
	MmrConflictDecision d = row_decide(f, version(2, "n2", 90));

	EXPECT_EQ(d.action, MMR_ACTION_DELETE);
	EXPECT_EQ(d.conflict, MMR_CONFLICT_DELETE_ORIGIN_DIFFERS);
	EXPECT_EQ(d.resolution, MMR_RESOLUTION_APPLY_REMOTE);
	EXPECT_EQ(d.record_tombstone, 0);
}

TEST(TruncateRow, ConcurrentLaterRowIsKept)
{
	Facts		f = truncate_facts();

	f.seen_up_to(2, 90);
	MmrConflictDecision d = row_decide(f, version(2, "n2", 110));

	EXPECT_EQ(d.action, MMR_ACTION_NOTHING);
	EXPECT_EQ(d.conflict, MMR_CONFLICT_DELETE_ORIGIN_DIFFERS);
	EXPECT_EQ(d.resolution, MMR_RESOLUTION_KEEP_LOCAL);
}

TEST(TruncateRow, FirstUpdateWinsKeepsTheEarlierRow)
{
	Facts		f = truncate_facts();

	f.all_resolvers(MMR_RESOLVER_FIRST_UPDATE_WINS);
	EXPECT_EQ(row_decide(f, version(2, "n2", 90)).action, MMR_ACTION_NOTHING);
	EXPECT_EQ(row_decide(f, version(2, "n2", 110)).action, MMR_ACTION_DELETE);
}

TEST(TruncateRow, ErrorResolverStops)
{
	Facts		f = truncate_facts();

	f.resolver(MMR_CONFLICT_DELETE_ORIGIN_DIFFERS, MMR_RESOLVER_ERROR);
	MmrConflictDecision d = row_decide(f, version(2, "n2", 90));

	EXPECT_EQ(d.action, MMR_ACTION_ERROR);
	EXPECT_EQ(d.resolution, MMR_RESOLUTION_ERROR);
}

TEST(TruncateRow, IgnoresTheChangeKindAndTombstone)
{
	Facts		f = truncate_facts();

	f.f.change = MMR_CHANGE_INSERT;
	f.tombstone(version(3, "n3", 500));
	MmrConflictDecision d = row_decide(f, version(2, "n2", 90));

	EXPECT_EQ(d.action, MMR_ACTION_DELETE);
	EXPECT_EQ(d.record_tombstone, 0);
}

TEST(TruncateRow, NullArgumentsAreRefused)
{
	MmrConflictDecision out{};
	MmrError	err{};
	Facts		f = truncate_facts();

	EXPECT_EQ(mmr_truncate_row_decide(nullptr, &out, &err), MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(mmr_truncate_row_decide(&f.f, nullptr, &err), MMR_ERR_INVALID_ARGUMENT);
	f.f.nhorizon = 1;
	EXPECT_EQ(mmr_truncate_row_decide(&f.f, &out, &err), MMR_ERR_INVALID_ARGUMENT);
}

TEST(TruncateTombstone, NoneThereIsRecorded)
{
	Facts		f = truncate_facts();

	EXPECT_EQ(replaces(f), 1);
}

TEST(TruncateTombstone, NewerOneThereIsKept)
{
	Facts		f = truncate_facts();

	f.tombstone(version(3, "n3", 200));
	EXPECT_EQ(replaces(f), 0);
}

TEST(TruncateTombstone, OlderOrSeenOneIsReplaced)
{
	Facts		older = truncate_facts();
	Facts		seen = truncate_facts();

	older.tombstone(version(3, "n3", 50));
	EXPECT_EQ(replaces(older), 1);
	/* Clock skew let n3's commit time pass n1's, but n1 had applied it. */
	seen.tombstone(version(3, "n3", 200)).seen_up_to(3, 200);
	EXPECT_EQ(replaces(seen), 1);
}

TEST(TruncateTombstone, ErrorResolverStillOrders)
{
	Facts		f = truncate_facts();

	f.resolver(MMR_CONFLICT_DELETE_MISSING, MMR_RESOLVER_ERROR);
	f.tombstone(version(3, "n3", 50));
	EXPECT_EQ(replaces(f), 1);
	f.tombstone(version(3, "n3", 200));
	EXPECT_EQ(replaces(f), 0);
}

TEST(TruncateAnswers, WithoutAKeyTombstoneTheTruncateAnswersAnOlderWrite)
{
	Facts		insert(MMR_CHANGE_INSERT, 2);
	Facts		update(MMR_CHANGE_UPDATE, 2);

	insert.remote(version(3, "n3", 90));
	EXPECT_EQ(answers(insert, kTruncate), 1);
	update.remote(version(3, "n3", 90));
	EXPECT_EQ(answers(update, kTruncate), 1);
}

TEST(TruncateAnswers, ALaterWriteIsDecidedAsWithoutTheTruncate)
{
	Facts		insert(MMR_CHANGE_INSERT, 2);
	Facts		update(MMR_CHANGE_UPDATE, 2);
	Facts		keep_local(MMR_CHANGE_UPDATE, 2);

	insert.remote(version(3, "n3", 150));
	EXPECT_EQ(answers(insert, kTruncate), 0);
	/* update_missing, not update_deleted: the truncate changes nothing. */
	update.remote(version(3, "n3", 150));
	EXPECT_EQ(answers(update, kTruncate), 0);
	keep_local.remote(version(3, "n3", 150)).all_resolvers(MMR_RESOLVER_KEEP_LOCAL);
	EXPECT_EQ(answers(keep_local, kTruncate), 0);
}

TEST(TruncateAnswers, AWriteThatHadSeenTheTruncateGoesIn)
{
	Facts		insert(MMR_CHANGE_INSERT, 2);

	/* Clock skew put n3's commit time before n1's, but n3 had applied it. */
	insert.remote(version(3, "n3", 90)).seen_up_to(1, 100);
	EXPECT_EQ(answers(insert, kTruncate), 0);
}

TEST(TruncateAnswers, TheTruncateAnswersWhenOnlyItKeepsTheChangeOut)
{
	Facts		f(MMR_CHANGE_INSERT, 2);

	/* Key deleted at 50, table truncated at 100, insert at 90. */
	f.remote(version(3, "n3", 90)).tombstone(version(2, "n2", 50));
	EXPECT_EQ(answers(f, kTruncate), 1);
}

TEST(TruncateAnswers, TheKeyTombstoneAnswersOtherwise)
{
	Facts		later_key(MMR_CHANGE_INSERT, 2);
	Facts		both_old(MMR_CHANGE_UPDATE, 2);
	Facts		seen(MMR_CHANGE_INSERT, 2);

	/* Both keep it out: the key's (later) delete is the one logged. */
	later_key.remote(version(3, "n3", 90)).tombstone(version(2, "n2", 120));
	EXPECT_EQ(answers(later_key, kTruncate), 0);
	/* Later than both: either lets it in, the key's is shown. */
	both_old.remote(version(3, "n3", 150)).tombstone(version(2, "n2", 50));
	EXPECT_EQ(answers(both_old, kTruncate), 0);
	/* The insert had seen the truncate. */
	seen.remote(version(3, "n3", 90)).tombstone(version(2, "n2", 50)).seen_up_to(1, 100);
	EXPECT_EQ(answers(seen, kTruncate), 0);
}

TEST(TruncateAnswers, OnlyForAWriteWhoseRowIsMissing)
{
	Facts		del(MMR_CHANGE_DELETE, 2);
	Facts		with_row(MMR_CHANGE_INSERT, 2);
	int			use = -1;
	MmrError	err{};

	EXPECT_EQ(mmr_truncate_tombstone_answers(&del.f, &kTruncate, &use, &err),
			  MMR_ERR_INVALID_ARGUMENT);
	with_row.row(version(2, "n2", 10));
	EXPECT_EQ(mmr_truncate_tombstone_answers(&with_row.f, &kTruncate, &use, &err),
			  MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(mmr_truncate_tombstone_answers(&del.f, nullptr, &use, &err),
			  MMR_ERR_INVALID_ARGUMENT);
}

}							/* namespace */
