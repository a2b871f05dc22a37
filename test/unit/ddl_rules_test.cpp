/*
 * ddl_rules_test.cpp
 *	  mmr_ddl_decide: which statements replicate, stay local (quietly or with
 *	  a NOTICE) or are refused, under capture and under mmr.replicate_ddl();
 *	  and the "mmr.ddl" message codec, whose input is untrusted.
 */
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmr_core.h"

namespace
{

MmrDdlFacts
schema_change()
{
	MmrDdlFacts f{};

	f.kind = MMR_DDL_KIND_SCHEMA;
	f.permanent = 1;
	return f;
}

MmrDdlDecision
decide(const MmrDdlFacts &f)
{
	MmrDdlDecision out{};

	mmr_ddl_decide(&f, &out);
	return out;
}

MmrDdlFacts
explicit_call(MmrDdlFacts f)
{
	f.explicit_call = 1;
	return f;
}

void
expect(const MmrDdlFacts &f, MmrDdlAction action, MmrDdlReason reason)
{
	MmrDdlDecision d = decide(f);

	EXPECT_EQ(d.action, action);
	EXPECT_EQ(d.reason, reason);
}

TEST(DdlRules, SchemaChangeReplicatesEitherWay)
{
	expect(schema_change(), MMR_DDL_REPLICATE, MMR_DDL_REASON_NONE);
	expect(explicit_call(schema_change()), MMR_DDL_REPLICATE, MMR_DDL_REASON_NONE);
}

TEST(DdlRules, NotDdlRunsWhenCapturedAndIsRefusedExplicitly)
{
	MmrDdlFacts f{};

	expect(f, MMR_DDL_RUN, MMR_DDL_REASON_NOT_DDL);
	expect(explicit_call(f), MMR_DDL_REFUSE, MMR_DDL_REASON_NOT_DDL);
}

TEST(DdlRules, TemporaryStaysLocalQuietly)
{
	MmrDdlFacts f = schema_change();

	f.permanent = 0;
	f.temporary = 1;
	expect(f, MMR_DDL_LOCAL, MMR_DDL_REASON_TEMPORARY);
	expect(explicit_call(f), MMR_DDL_REFUSE, MMR_DDL_REASON_TEMPORARY);

	/* Temporary wins over what would otherwise be refused. */
	f.concurrently = 1;
	f.nested = 1;
	expect(f, MMR_DDL_LOCAL, MMR_DDL_REASON_TEMPORARY);
}

TEST(DdlRules, TemporaryAndPermanentTogetherAreRefused)
{
	MmrDdlFacts f = schema_change();

	f.temporary = 1;
	expect(f, MMR_DDL_REFUSE, MMR_DDL_REASON_MIXED_TEMPORARY);
	expect(explicit_call(f), MMR_DDL_REFUSE, MMR_DDL_REASON_MIXED_TEMPORARY);
}

TEST(DdlRules, MmrSchemaGlobalObjectsAndExtensionsStayLocalWithNotice)
{
	MmrDdlFacts mmr = schema_change();
	MmrDdlFacts global = schema_change();
	MmrDdlFacts extension = schema_change();

	mmr.in_mmr_schema = 1;
	global.kind = MMR_DDL_KIND_GLOBAL;
	extension.kind = MMR_DDL_KIND_EXTENSION;
	expect(mmr, MMR_DDL_LOCAL_NOTICE, MMR_DDL_REASON_MMR_SCHEMA);
	expect(global, MMR_DDL_LOCAL_NOTICE, MMR_DDL_REASON_GLOBAL_OBJECT);
	expect(extension, MMR_DDL_LOCAL_NOTICE, MMR_DDL_REASON_EXTENSION);
	expect(explicit_call(mmr), MMR_DDL_REFUSE, MMR_DDL_REASON_MMR_SCHEMA);
	expect(explicit_call(global), MMR_DDL_REFUSE, MMR_DDL_REASON_GLOBAL_OBJECT);
	expect(explicit_call(extension), MMR_DDL_REFUSE, MMR_DDL_REASON_EXTENSION);
}

TEST(DdlRules, UnsafeStatementsAreRefused)
{
	MmrDdlFacts concurrently = schema_change();
	MmrDdlFacts with_data = schema_change();
	MmrDdlFacts unreplicated = schema_change();
	MmrDdlFacts nested = schema_change();

	concurrently.concurrently = 1;
	with_data.kind = MMR_DDL_KIND_WITH_DATA;
	unreplicated.unreplicated_table = 1;
	nested.nested = 1;
	for (bool is_explicit : {false, true})
	{
		auto		as = [&](MmrDdlFacts f) { return is_explicit ? explicit_call(f) : f; };

		expect(as(concurrently), MMR_DDL_REFUSE, MMR_DDL_REASON_CONCURRENTLY);
		expect(as(with_data), MMR_DDL_REFUSE, MMR_DDL_REASON_WITH_DATA);
		expect(as(unreplicated), MMR_DDL_REFUSE, MMR_DDL_REASON_UNREPLICATED_TABLE);
		expect(as(nested), MMR_DDL_REFUSE, MMR_DDL_REASON_NESTED);
	}
}

TEST(DdlRules, ConcurrentlyOnAnExcludedTableNamesConcurrently)
{
	MmrDdlFacts f = schema_change();

	f.concurrently = 1;
	f.unreplicated_table = 1;
	f.nested = 1;
	expect(f, MMR_DDL_REFUSE, MMR_DDL_REASON_CONCURRENTLY);
}

TEST(DdlRules, NullArgumentsAreIgnored)
{
	MmrDdlFacts f = schema_change();

	mmr_ddl_decide(&f, nullptr);
	mmr_ddl_decide(nullptr, nullptr);
}

MmrBytes
bytes_of(const std::string &s)
{
	return MmrBytes{s.data(), static_cast<uint32_t>(s.size())};
}

std::vector<char>
encode(const std::string &role, const std::string &path, const std::string &command)
{
	MmrDdlMessage msg{bytes_of(role), bytes_of(path), bytes_of(command)};
	MmrError	err{};
	size_t		needed = mmr_ddl_message_encode(&msg, nullptr, 0, &err);

	EXPECT_GT(needed, 0u) << err.message;
	std::vector<char> buf(needed);

	EXPECT_EQ(mmr_ddl_message_encode(&msg, buf.data(), buf.size(), &err), needed);
	return buf;
}

std::string
str(MmrBytes b)
{
	return std::string(b.data, b.len);
}

TEST(DdlMessage, RoundTrip)
{
	std::vector<char> buf = encode("alice", "\"$user\", public", "ALTER TABLE t ADD c int");
	MmrDdlMessage out{};
	MmrError	err{};

	ASSERT_EQ(mmr_ddl_message_decode(buf.data(), buf.size(), &out, &err), MMR_OK) << err.message;
	EXPECT_EQ(str(out.role), "alice");
	EXPECT_EQ(str(out.search_path), "\"$user\", public");
	EXPECT_EQ(str(out.command), "ALTER TABLE t ADD c int");
}

TEST(DdlMessage, EmptySearchPathIsFine)
{
	std::vector<char> buf = encode("bob", "", "DROP TABLE t");
	MmrDdlMessage out{};
	MmrError	err{};

	ASSERT_EQ(mmr_ddl_message_decode(buf.data(), buf.size(), &out, &err), MMR_OK);
	EXPECT_EQ(out.search_path.len, 0u);
}

TEST(DdlMessage, EncoderRefusesEmptyRoleOrCommandAndNul)
{
	MmrError	err{};
	char		buf[64];
	std::string nul("a\0b", 3);
	MmrDdlMessage no_role{bytes_of(""), bytes_of("public"), bytes_of("DROP TABLE t")};
	MmrDdlMessage no_command{bytes_of("r"), bytes_of("public"), bytes_of("")};
	MmrDdlMessage with_nul{bytes_of("r"), bytes_of("public"), bytes_of(nul)};

	EXPECT_EQ(mmr_ddl_message_encode(&no_role, buf, sizeof(buf), &err), 0u);
	EXPECT_EQ(err.status, MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(mmr_ddl_message_encode(&no_command, buf, sizeof(buf), &err), 0u);
	EXPECT_EQ(mmr_ddl_message_encode(&with_nul, buf, sizeof(buf), &err), 0u);
	EXPECT_EQ(mmr_ddl_message_encode(nullptr, buf, sizeof(buf), &err), 0u);
}

TEST(DdlMessage, DecoderRejectsEveryTruncationAndTrailingBytes)
{
	std::vector<char> buf = encode("alice", "public", "CREATE TABLE t (id int)");
	MmrDdlMessage out{};
	MmrError	err{};

	for (size_t len = 0; len < buf.size(); len++)
		EXPECT_EQ(mmr_ddl_message_decode(buf.data(), len, &out, &err), MMR_ERR_MALFORMED)
			<< "length " << len;
	buf.push_back('x');
	EXPECT_EQ(mmr_ddl_message_decode(buf.data(), buf.size(), &out, &err), MMR_ERR_MALFORMED);
	EXPECT_NE(std::strstr(err.message, "trailing"), nullptr) << err.message;
}

TEST(DdlMessage, DecoderRejectsBadVersionNulAndEmptyFields)
{
	MmrDdlMessage out{};
	MmrError	err{};
	std::vector<char> buf = encode("alice", "public", "DROP TABLE t");

	buf[0] = 2;
	EXPECT_EQ(mmr_ddl_message_decode(buf.data(), buf.size(), &out, &err), MMR_ERR_MALFORMED);

	/* version 1, role "", search_path "", command "x" */
	const char	empty_role[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x'};

	EXPECT_EQ(mmr_ddl_message_decode(empty_role, sizeof(empty_role), &out, &err),
			  MMR_ERR_MALFORMED);

	/* role "r", search_path "", command "\0" */
	const char	nul_command[] = {1, 0, 0, 0, 1, 'r', 0, 0, 0, 0, 0, 0, 0, 1, 0};

	EXPECT_EQ(mmr_ddl_message_decode(nul_command, sizeof(nul_command), &out, &err),
			  MMR_ERR_MALFORMED);
	EXPECT_NE(std::strstr(err.message, "NUL"), nullptr) << err.message;
}

}							/* namespace */
