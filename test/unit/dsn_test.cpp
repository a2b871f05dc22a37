/* dsn_test.cpp: passwords never survive mmr_dsn_mask, everything else does. */
#include <string>

#include <gtest/gtest.h>

#include "mmr_core.h"

namespace
{

std::string mask(const std::string &dsn)
{
	MmrError err{};
	size_t needed = mmr_dsn_mask(dsn.data(), dsn.size(), nullptr, 0, &err);
	EXPECT_GT(needed, 0u);
	std::string out(needed, '\0');
	EXPECT_EQ(mmr_dsn_mask(dsn.data(), dsn.size(), out.data(), out.size(), &err), needed);
	return out;
}

TEST(DsnMask, KeywordForm)
{
	EXPECT_EQ(mask("host=a port=5432 password=secret dbname=x"),
			  "host=a port=5432 password=******** dbname=x");
	EXPECT_EQ(mask("host=a dbname=x"), "host=a dbname=x");
	EXPECT_EQ(mask("password = 'se cr\\'et' host=a"), "password = ******** host=a");
	EXPECT_EQ(mask("password=a\\ b host=a"), "password=******** host=a");
	EXPECT_EQ(mask("password=one password=two"), "password=******** password=********");
	EXPECT_EQ(mask("passfile=/x host=y"), "passfile=/x host=y");
}

TEST(DsnMask, UriForm)
{
	EXPECT_EQ(mask("postgresql://u:secret@h:5/db"), "postgresql://u:********@h:5/db");
	EXPECT_EQ(mask("postgres://u@h/db?password=secret&sslmode=off"),
			  "postgres://u@h/db?password=********&sslmode=off");
	EXPECT_EQ(mask("postgresql://h/db"), "postgresql://h/db");
	EXPECT_EQ(mask("postgresql://u:p%40ss@h"), "postgresql://u:********@h");
}

TEST(DsnMask, UnparseableIsMaskedWhole)
{
	EXPECT_EQ(mask("host=a password='unterminated"), "********");
	EXPECT_EQ(mask("justaword"), "********");
	EXPECT_EQ(mask(""), "********");
}

}							/* namespace */
