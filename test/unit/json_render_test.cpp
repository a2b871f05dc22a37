/*
 * json_render_test.cpp
 *	  mmr_message_to_json() produces exactly the shapes documented in
 *	  mmr_core.h: one test per message kind against the full expected string,
 *	  then escaping, the hex fallback for bytes that are not UTF-8 without
 *	  NUL, and PostgreSQL's LSN notation.
 */
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmr_core.h"
#include "test_messages.hpp"

namespace
{

using namespace mmr_test;

/* The sample named `name` from sample_messages(). */
MmrMessage
sample(const std::string &name)
{
	for (const Sample &s : sample_messages())
		if (name == s.name)
			return s.msg;
	throw std::runtime_error("no sample " + name);
}

/* JSON of a message that has also been through the wire. */
std::string
json_after_wire(const MmrMessage &msg)
{
	Decoder		decoder;
	std::string wire = encode(msg);
	std::string direct = to_json(msg);
	std::string decoded = to_json(decoder.decode(wire));

	EXPECT_EQ(direct, decoded);
	return decoded;
}

TEST(Json, Begin)
{
	EXPECT_EQ(json_after_wire(sample("begin_local")),
			  R"({"type":"begin","xid":742,"final_lsn":"0/16B3748","commit_time":754000000000000,"origin":""})");
	EXPECT_EQ(json_after_wire(sample("begin_extremes")),
			  R"({"type":"begin","xid":4294967295,"final_lsn":"FFFFFFFF/FFFFFFFF","commit_time":-9223372036854775808,"origin":"node_b"})");
}

TEST(Json, Commit)
{
	EXPECT_EQ(json_after_wire(sample("commit")),
			  R"({"type":"commit","flags":0,"commit_lsn":"1/0","end_lsn":"1/A8","commit_time":754000000000001})");
	EXPECT_EQ(json_after_wire(sample("commit_zero")),
			  R"({"type":"commit","flags":0,"commit_lsn":"0/0","end_lsn":"0/0","commit_time":0})");
}

TEST(Json, Relation)
{
	EXPECT_EQ(json_after_wire(sample("relation")),
			  R"({"type":"relation","relid":16384,"schema":"public","table":"täble","replica_identity":"d",)"
			  R"("columns":[{"name":"id","type":"integer","type_oid":23,"typmod":-1,"key":true},)"
			  R"j({"name":"name","type":"character varying(64)","type_oid":1043,"typmod":68,"key":false},)j"
			  R"({"name":"été \"q\"","type":"jsonb","type_oid":3802,"typmod":-1,"key":false},)"
			  R"({"name":"","type":"","type_oid":0,"typmod":0,"key":false}]})");
	EXPECT_EQ(json_after_wire(sample("relation_no_columns")),
			  R"({"type":"relation","relid":1,"schema":"s","table":"t","replica_identity":"n","columns":[]})");
}

TEST(Json, Insert)
{
	EXPECT_EQ(json_after_wire(sample("insert_all_kinds")),
			  R"({"type":"insert","relid":16384,"new":[null,{"unchanged":true},"hello","",)"
			  R"({"binary":"\\x0001ff"},{"binary":"\\x"}]})");
	EXPECT_EQ(json_after_wire(sample("insert_empty")), R"({"type":"insert","relid":1,"new":[]})");
}

TEST(Json, Update)
{
	EXPECT_EQ(json_after_wire(sample("update_new_only")),
			  R"({"type":"update","relid":16384,"new":["42",{"unchanged":true},{"binary":"\\x7f"}]})");
	EXPECT_EQ(json_after_wire(sample("update_key")),
			  R"({"type":"update","relid":16384,"old_kind":"key","old":["42"],)"
			  R"("new":["42",{"unchanged":true},{"binary":"\\x7f"}]})");
	EXPECT_EQ(json_after_wire(sample("update_full")),
			  R"({"type":"update","relid":16384,"old_kind":"full","old":["42","old",null],)"
			  R"("new":[null,{"unchanged":true},"hello","",{"binary":"\\x0001ff"},{"binary":"\\x"}]})");
}

TEST(Json, Delete)
{
	EXPECT_EQ(json_after_wire(sample("delete_key")),
			  R"({"type":"delete","relid":16384,"old_kind":"key","old":["42"]})");
	EXPECT_EQ(json_after_wire(sample("delete_full")),
			  R"({"type":"delete","relid":16384,"old_kind":"full","old":["42","old",null]})");
}

TEST(Json, Truncate)
{
	EXPECT_EQ(json_after_wire(sample("truncate")),
			  R"({"type":"truncate","cascade":true,"restart_identity":true,"relids":[16384,0,4294967295]})");
	EXPECT_EQ(json_after_wire(sample("truncate_none")),
			  R"({"type":"truncate","cascade":false,"restart_identity":false,"relids":[]})");

	std::vector<uint32_t> one = {5};

	EXPECT_EQ(json_after_wire(make_truncate(MMR_TRUNCATE_RESTART_IDENTITY, one)),
			  R"({"type":"truncate","cascade":false,"restart_identity":true,"relids":[5]})");
}

TEST(Json, Message)
{
	EXPECT_EQ(json_after_wire(sample("message_text")),
			  R"j({"type":"message","transactional":true,"prefix":"mmr_ddl","content":"CREATE TABLE t (a int)"})j");
	EXPECT_EQ(json_after_wire(sample("message_binary")),
			  R"({"type":"message","transactional":false,"prefix":"","content":{"hex":"\\x00fe01"}})");
}

TEST(Json, LsnNotation)
{
	struct Case
	{
		uint64_t	lsn;
		const char *text;
	};
	for (Case c : {Case{0, "0/0"}, Case{0xA8, "0/A8"}, Case{0x16B3748, "0/16B3748"},
				   Case{0x100000000, "1/0"}, Case{0xABCDEF0012345678, "ABCDEF00/12345678"},
				   Case{0x0000000F0000000F, "F/F"}})
	{
		EXPECT_EQ(to_json(make_begin(c.lsn, 0, 0, "")),
				  std::string(R"({"type":"begin","xid":0,"final_lsn":")") + c.text +
				  R"(","commit_time":0,"origin":""})");
	}
}

/* Renders one text value in an INSERT and returns the JSON of the value. */
std::string
value_json(std::string_view text)
{
	std::vector<MmrValue> row = {text_value(text)};
	std::string json = to_json(make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &row));
	std::string head = R"({"type":"insert","relid":1,"new":[)";
	std::string tail = "]}";

	EXPECT_EQ(json.substr(0, head.size()), head);
	EXPECT_EQ(json.substr(json.size() - tail.size()), tail);
	return json.substr(head.size(), json.size() - head.size() - tail.size());
}

TEST(Json, EscapesQuotesBackslashesAndControlCharacters)
{
	EXPECT_EQ(value_json("say \"hi\""), R"("say \"hi\"")");
	EXPECT_EQ(value_json("C:\\dir\\"), R"("C:\\dir\\")");
	EXPECT_EQ(value_json("a\nb\tc\rd"), R"("a\u000ab\u0009c\u000dd")");
	EXPECT_EQ(value_json("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
	EXPECT_EQ(value_json("/<>'"), R"("/<>'")");
	/* valid UTF-8 passes through unescaped: 2, 3 and 4 byte sequences */
	EXPECT_EQ(value_json("é€😀"), R"("é€😀")");
	EXPECT_EQ(value_json("\xef\xbf\xbf\xf4\x8f\xbf\xbf"), "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"");
}

TEST(Json, InvalidUtf8TextBecomesHex)
{
	EXPECT_EQ(value_json("\xc3"), R"({"hex":"\\xc3"})");			/* cut short */
	EXPECT_EQ(value_json("a\xff"), R"({"hex":"\\x61ff"})");			/* never valid */
	EXPECT_EQ(value_json("\xc0\xaf"), R"({"hex":"\\xc0af"})");		/* overlong */
	EXPECT_EQ(value_json("\xe0\x80\xaf"), R"({"hex":"\\xe080af"})");	/* overlong */
	EXPECT_EQ(value_json("\xed\xa0\x80"), R"({"hex":"\\xeda080"})");	/* surrogate */
	EXPECT_EQ(value_json("\xf4\x90\x80\x80"), R"({"hex":"\\xf4908080"})");	/* > U+10FFFF */
	EXPECT_EQ(value_json("\xe2\x82"), R"({"hex":"\\xe282"})");		/* cut short */
	EXPECT_EQ(value_json("\x80"), R"({"hex":"\\x80"})");			/* lone continuation */
}

/* The validator skips ASCII a word at a time: put the bad byte everywhere. */
TEST(Json, BadByteAtEveryPositionOfLongerStrings)
{
	for (size_t len = 1; len <= 40; len++)
	{
		for (size_t pos = 0; pos < len; pos++)
		{
			std::string text(len, 'a');

			text[pos] = '\xff';
			EXPECT_EQ(value_json(text).rfind(R"({"hex":"\\x)", 0), 0u) << len << "/" << pos;

			std::string content(len, 'b');

			content[pos] = '\0';
			std::string json = to_json(make_message(1, "p", content));

			EXPECT_NE(json.find(R"("content":{"hex":"\\x)"), std::string::npos) << len << "/" << pos;
		}
		std::string good(len, 'c');

		EXPECT_EQ(value_json(good), "\"" + good + "\"");
	}
}

TEST(Json, InvalidUtf8NamesBecomeHex)
{
	std::vector<MmrColumn> columns = {{0, bytes("\xfe"), 25, -1, bytes("text")}};

	EXPECT_EQ(to_json(make_relation(9, "\xff", "t", 'd', columns)),
			  R"({"type":"relation","relid":9,"schema":{"hex":"\\xff"},"table":"t","replica_identity":"d",)"
			  R"("columns":[{"name":{"hex":"\\xfe"},"type":"text","type_oid":25,"typmod":-1,"key":false}]})");
	EXPECT_EQ(to_json(make_begin(1, 2, 3, "\xc3(")),
			  R"({"type":"begin","xid":3,"final_lsn":"0/1","commit_time":2,"origin":{"hex":"\\xc328"}})");
	EXPECT_EQ(to_json(make_message(0, "pre\"fix", "\xe9t\xe9")),
			  R"({"type":"message","transactional":false,"prefix":"pre\"fix","content":{"hex":"\\xe974e9"}})");
}

TEST(Json, LongBinaryValue)
{
	std::string data;

	for (int i = 0; i < 300; i++)
		data.push_back(static_cast<char>(i));
	std::vector<MmrValue> row = {binary_value(data)};
	std::string json = to_json(make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &row));
	std::string hex;

	for (int i = 0; i < 300; i++)
	{
		static const char digits[] = "0123456789abcdef";

		hex.push_back(digits[(i & 0xFF) >> 4]);
		hex.push_back(digits[i & 0xF]);
	}
	EXPECT_EQ(json, R"({"type":"insert","relid":1,"new":[{"binary":"\\x)" + hex + R"("}]})");
}

}							/* namespace */
