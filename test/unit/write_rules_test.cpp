/*
 * write_rules_test.cpp
 *	  mmr_write_decide: a table writer admits only its node; owned rows
 *	  admit only their node, before and after an UPDATE; a NULL owner is no
 *	  node's; TRUNCATE of a table with owned rows is refused; no rule admits
 *	  everything.
 */
#include <cstring>

#include <gtest/gtest.h>

#include "mmr_core.h"

namespace
{

MmrBytes
bytes(const char *s)
{
	return MmrBytes{s, s == nullptr ? 0u : static_cast<uint32_t>(std::strlen(s))};
}

const MmrBytes kNull{nullptr, 0};

MmrWriteVerdict
row(const MmrWriteRule &rule, const char *local, const MmrBytes *old_owner,
	const MmrBytes *new_owner)
{
	return mmr_write_decide(&rule, bytes(local), 0, old_owner, new_owner);
}

TEST(WriteRules, NoRuleAllowsEverything)
{
	MmrWriteRule none{kNull, 0};
	MmrBytes	n2 = bytes("n2");

	EXPECT_EQ(row(none, "n1", &n2, &n2), MMR_WRITE_ALLOWED);
	EXPECT_EQ(mmr_write_decide(&none, bytes("n1"), 1, nullptr, nullptr), MMR_WRITE_ALLOWED);
	EXPECT_EQ(mmr_write_decide(nullptr, bytes("n1"), 1, nullptr, nullptr), MMR_WRITE_ALLOWED);
}

TEST(WriteRules, TableWriter)
{
	MmrWriteRule rule{bytes("n1"), 0};

	EXPECT_EQ(row(rule, "n1", nullptr, nullptr), MMR_WRITE_ALLOWED);
	EXPECT_EQ(mmr_write_decide(&rule, bytes("n1"), 1, nullptr, nullptr), MMR_WRITE_ALLOWED);
	EXPECT_EQ(row(rule, "n2", nullptr, nullptr), MMR_WRITE_NOT_TABLE_WRITER);
	EXPECT_EQ(mmr_write_decide(&rule, bytes("n2"), 1, nullptr, nullptr), MMR_WRITE_NOT_TABLE_WRITER);
	/* Bytewise: no prefix, case or empty-name matches. */
	EXPECT_EQ(row(rule, "n10", nullptr, nullptr), MMR_WRITE_NOT_TABLE_WRITER);
	EXPECT_EQ(row(rule, "N1", nullptr, nullptr), MMR_WRITE_NOT_TABLE_WRITER);
	EXPECT_EQ(row(rule, "", nullptr, nullptr), MMR_WRITE_NOT_TABLE_WRITER);
	EXPECT_EQ(mmr_write_decide(&rule, kNull, 0, nullptr, nullptr), MMR_WRITE_NOT_TABLE_WRITER);
}

TEST(WriteRules, OwnedRows)
{
	MmrWriteRule rule{kNull, 1};
	MmrBytes	n1 = bytes("n1");
	MmrBytes	n2 = bytes("n2");

	EXPECT_EQ(row(rule, "n1", nullptr, &n1), MMR_WRITE_ALLOWED);	/* INSERT */
	EXPECT_EQ(row(rule, "n1", &n1, &n1), MMR_WRITE_ALLOWED);	/* UPDATE */
	EXPECT_EQ(row(rule, "n1", &n1, nullptr), MMR_WRITE_ALLOWED);	/* DELETE */
	EXPECT_EQ(row(rule, "n1", nullptr, &n2), MMR_WRITE_NEW_ROW_FOREIGN);
	EXPECT_EQ(row(rule, "n1", &n2, nullptr), MMR_WRITE_OLD_ROW_FOREIGN);
	/* UPDATE checks both rows: neither giving away nor taking over. */
	EXPECT_EQ(row(rule, "n1", &n1, &n2), MMR_WRITE_NEW_ROW_FOREIGN);
	EXPECT_EQ(row(rule, "n1", &n2, &n1), MMR_WRITE_OLD_ROW_FOREIGN);
	/* NULL is no node's. */
	EXPECT_EQ(row(rule, "n1", nullptr, &kNull), MMR_WRITE_NEW_ROW_FOREIGN);
	EXPECT_EQ(row(rule, "n1", &kNull, nullptr), MMR_WRITE_OLD_ROW_FOREIGN);
}

TEST(WriteRules, TruncateOfOwnedRowsIsRefused)
{
	MmrWriteRule rule{kNull, 1};

	EXPECT_EQ(mmr_write_decide(&rule, bytes("n1"), 1, nullptr, nullptr), MMR_WRITE_TRUNCATE_OWNED);
}

TEST(WriteRules, TableWriterComesFirst)
{
	MmrWriteRule both{bytes("n1"), 1};
	MmrBytes	n2 = bytes("n2");
	MmrBytes	n1 = bytes("n1");

	EXPECT_EQ(row(both, "n2", &n2, &n2), MMR_WRITE_NOT_TABLE_WRITER);
	EXPECT_EQ(row(both, "n1", &n2, &n2), MMR_WRITE_OLD_ROW_FOREIGN);
	EXPECT_EQ(row(both, "n1", &n1, &n1), MMR_WRITE_ALLOWED);
}

}							/* namespace */
