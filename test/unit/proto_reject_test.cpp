/*
 * proto_reject_test.cpp
 *	  The decoder treats its input as untrusted (docs/protocol.md, "Decoder
 *	  rules"): every truncation, trailing byte, unknown kind, bad count and
 *	  forbidden NUL is MMR_ERR_MALFORMED with a precise message, never a
 *	  crash or an allocation sized by the attacker.  The encoder refuses the
 *	  same messages (MMR_ERR_INVALID_ARGUMENT), and both refuse unsupported
 *	  protocol versions (MMR_ERR_VERSION).
 */
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "alloc_counter.hpp"
#include "mmr_core.h"
#include "test_messages.hpp"

namespace
{

using namespace mmr_test;

struct Rejection
{
	MmrStatus	status;
	std::string message;
};

/*
 * Decodes from an exactly sized heap copy, so that a sanitizer build would
 * catch any read past the end.
 */
Rejection
decode_status(const std::string &wire, uint32_t version = 1)
{
	std::unique_ptr<char[]> copy(wire.empty() ? nullptr : new char[wire.size()]);

	if (!wire.empty())
		std::memcpy(copy.get(), wire.data(), wire.size());

	Decoder		decoder;
	MmrMessage	out{};
	MmrError	err{};
	MmrStatus	status = mmr_decoder_decode(decoder.get(), version, copy.get(), wire.size(),
											&out, &err);

	return {status, status == MMR_OK ? std::string() : std::string(err.message)};
}

void
expect_malformed(const std::string &wire, const std::string &message)
{
	Rejection	r = decode_status(wire);

	EXPECT_EQ(r.status, MMR_ERR_MALFORMED) << testing::PrintToString(wire);
	EXPECT_EQ(r.message, message);
}

Rejection
encode_status(const MmrMessage &msg, uint32_t version = 1)
{
	MmrError	err{};
	char		buf[1024];
	size_t		n = mmr_proto_encode(version, &msg, buf, sizeof(buf), &err);

	if (n != 0)
		return {MMR_OK, {}};
	return {err.status, err.message};
}

void
expect_encode_refused(const MmrMessage &msg, const std::string &message)
{
	Rejection	r = encode_status(msg);

	EXPECT_EQ(r.status, MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(r.message, message);

	/* the renderer shows only messages that could be sent */
	MmrError	err{};

	EXPECT_EQ(mmr_message_to_json(&msg, nullptr, 0, &err), 0u);
	EXPECT_EQ(err.status, MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(std::string(err.message), message);
}

class Truncation : public testing::TestWithParam<Sample>
{
};

TEST_P(Truncation, EveryPrefixIsRejected)
{
	std::string wire = encode(GetParam().msg);

	for (size_t len = 0; len < wire.size(); len++)
	{
		Rejection	r = decode_status(wire.substr(0, len));

		ASSERT_EQ(r.status, MMR_ERR_MALFORMED) << "prefix of " << len << " bytes";
		ASSERT_EQ(r.message.rfind("truncated message: ", 0), 0u)
			<< "prefix of " << len << " bytes: " << r.message;
	}
}

TEST_P(Truncation, TrailingBytesAreRejected)
{
	std::string wire = encode(GetParam().msg);
	std::string kind = kind_name(GetParam().msg.kind);

	expect_malformed(wire + '\0', "1 trailing byte after " + kind + " message");
	expect_malformed(wire + "xyz", "3 trailing bytes after " + kind + " message");
}

INSTANTIATE_TEST_SUITE_P(Samples, Truncation, testing::ValuesIn(sample_messages()),
						 [](const testing::TestParamInfo<Sample> &info) {
							 return std::string(info.param.name);
						 });

TEST(Malformed, TruncationMessagesNameTheField)
{
	expect_malformed("", "truncated message: expected 1 byte for message kind, 0 left");
	expect_malformed("B\x01\x02\x03", "truncated message: expected 8 bytes for final_lsn, 3 left");
	expect_malformed(WireBuilder().u8('B').u64(1).u64(2).u32(3).u32(10).raw("abc").data(),
					 "truncated message: expected 10 bytes for origin, 3 left");
	expect_malformed(WireBuilder().u8('B').u64(1).u64(2).u32(3).u16(0).data(),
					 "truncated message: expected 4 bytes for origin length, 2 left");
	expect_malformed(WireBuilder().u8('I').u32(1).u8('N').u16(2).u8('t').u32(5).raw("ab").data(),
					 "truncated message: expected 5 bytes for text value in new tuple, 2 left");
	/* two columns pass the 2 x 17 byte minimum, the second is cut short */
	expect_malformed(WireBuilder().u8('R').u32(1).str("s").str("t").u8('d').u16(2)
					 .u8(0).str("ab").u32(23).u32(0).str("")
					 .u8(0).str("").u32(23).u32(0).u16(0).data(),
					 "truncated message: expected 4 bytes for type name length in column list, 2 left");
}

TEST(Malformed, UnknownMessageKind)
{
	expect_malformed("Z", "unknown message kind 0x5a");
	expect_malformed(std::string(1, '\0'), "unknown message kind 0x00");
	expect_malformed("\xff\x01\x02", "unknown message kind 0xff");
	expect_malformed("b", "unknown message kind 0x62");	/* kinds are case sensitive */
}

TEST(Malformed, UnknownValueKind)
{
	expect_malformed(WireBuilder().u8('I').u32(1).u8('N').u16(2).u8('n').u8('x').data(),
					 "unknown value kind 0x78 in new tuple");
	expect_malformed(WireBuilder().u8('U').u32(1).u8('K').u16(1).u8('T').u8('N').u16(0).data(),
					 "unknown value kind 0x54 in old tuple");
	expect_malformed(WireBuilder().u8('D').u32(1).u8('O').u16(1).u8(0).data(),
					 "unknown value kind 0x00 in old tuple");
}

TEST(Malformed, TupleMarkers)
{
	expect_malformed(WireBuilder().u8('I').u32(1).u8('K').u16(0).u8('N').u16(0).data(),
					 "insert message has tuple marker 0x4b, expected 'N'");
	expect_malformed(WireBuilder().u8('U').u32(1).u8('X').u16(0).data(),
					 "update message has tuple marker 0x58, expected 'K', 'O' or 'N'");
	expect_malformed(WireBuilder().u8('U').u32(1).u8('K').u16(0).u8('O').u16(0).data(),
					 "update message has tuple marker 0x4f, expected 'N'");
	expect_malformed(WireBuilder().u8('D').u32(1).u8('N').u16(0).data(),
					 "delete message has tuple marker 0x4e, expected 'K' or 'O'");
	/* a DELETE never carries a new tuple: the 'N' part is trailing garbage */
	expect_malformed(WireBuilder().u8('D').u32(1).u8('K').u16(0).u8('N').u16(0).data(),
					 "3 trailing bytes after delete message");
}

TEST(Malformed, CommitFlagsMustBeZero)
{
	expect_malformed(WireBuilder().u8('C').u8(1).u64(1).u64(2).u64(3).data(),
					 "commit flags must be 0, not 0x01");
}

TEST(Malformed, RelationNamesAndReplicaIdentity)
{
	auto		relation = [](std::string_view nsp, std::string_view rel, uint8_t ident) {
		return WireBuilder().u8('R').u32(1).str(nsp).str(rel).u8(ident).u16(0).data();
	};

	expect_malformed(relation("", "t", 'd'), "schema name is empty");
	expect_malformed(relation("s", "", 'd'), "table name is empty");
	expect_malformed(relation("s", "t", 'x'), "invalid replica identity 0x78");
	expect_malformed(relation("s", "t", 'D'), "invalid replica identity 0x44");
	for (char ident : {'d', 'n', 'f', 'i'})
		EXPECT_EQ(decode_status(relation("s", "t", static_cast<uint8_t>(ident))).status, MMR_OK);
}

/*
 * A NUL is forbidden in every name-like field: patch one byte of a marker
 * string in a valid encoding and check both the decoder and the encoder.
 */
TEST(Malformed, NulInNamesIsRejected)
{
	const std::string marker = "@@NUL@@";
	std::vector<MmrColumn> name_column = {{0, bytes(marker), 23, -1, bytes("integer")}};
	std::vector<MmrColumn> type_column = {{0, bytes("c"), 23, -1, bytes(marker)}};
	std::vector<MmrValue> text_row = {null_value(), text_value(marker)};
	std::vector<MmrValue> plain_row = {null_value()};

	struct Case
	{
		MmrMessage	msg;
		std::string decode_error;
		std::string encode_error;
	};
	std::vector<Case> cases = {
		{make_begin(1, 2, 3, marker), "NUL byte in origin", "NUL byte in origin"},
		{make_relation(1, marker, "t", 'd', {}), "NUL byte in schema name", "NUL byte in schema name"},
		{make_relation(1, "s", marker, 'd', {}), "NUL byte in table name", "NUL byte in table name"},
		{make_relation(1, "s", "t", 'd', name_column),
			"NUL byte in column name in column list", "NUL byte in column name"},
		{make_relation(1, "s", "t", 'd', type_column),
			"NUL byte in type name in column list", "NUL byte in type name"},
		{make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &text_row),
			"NUL byte in text value in new tuple", "NUL byte in text value"},
		{make_change(MMR_MSG_UPDATE, 1, MMR_OLD_FULL, &text_row, &plain_row),
			"NUL byte in text value in old tuple", "NUL byte in text value"},
		{make_message(1, marker, "content"), "NUL byte in prefix", "NUL byte in message prefix"},
	};

	for (const Case &c : cases)
	{
		std::string wire = encode(c.msg);
		size_t		at = wire.find(marker);

		ASSERT_NE(at, std::string::npos);
		for (size_t offset : {size_t{0}, size_t{3}, marker.size() - 1})
		{
			std::string patched = wire;

			patched[at + offset] = '\0';
			expect_malformed(patched, c.decode_error);
		}

		/* the same message with the NUL in place is refused by the encoder */
		std::string with_nul = marker;

		with_nul[3] = '\0';
		MmrMessage	bad = c.msg;
		MmrBytes	nul_bytes = bytes(with_nul);
		std::vector<MmrColumn> columns;
		std::vector<MmrValue> values;

		switch (bad.kind)
		{
			case MMR_MSG_BEGIN:
				bad.u.begin.origin = nul_bytes;
				break;
			case MMR_MSG_RELATION:
				if (view(bad.u.relation.nspname) == marker)
					bad.u.relation.nspname = nul_bytes;
				else if (view(bad.u.relation.relname) == marker)
					bad.u.relation.relname = nul_bytes;
				else
				{
					columns.assign(bad.u.relation.columns, bad.u.relation.columns + 1);
					if (view(columns[0].name) == marker)
						columns[0].name = nul_bytes;
					else
						columns[0].type_name = nul_bytes;
					bad.u.relation.columns = columns.data();
				}
				break;
			case MMR_MSG_INSERT:
			case MMR_MSG_UPDATE:
				values = {null_value(), MmrValue{MMR_VALUE_TEXT, nul_bytes}};
				if (bad.kind == MMR_MSG_INSERT)
					bad.u.change.new_tuple = tuple(values);
				else
					bad.u.change.old_tuple = tuple(values);
				break;
			case MMR_MSG_MESSAGE:
				bad.u.message.prefix = nul_bytes;
				break;
		}
		expect_encode_refused(bad, c.encode_error);
	}
}

TEST(Malformed, NulIsFineInBinaryValuesAndMessageContent)
{
	std::vector<MmrValue> row = {binary_value(std::string_view("\0\0", 2))};
	Decoder		decoder;

	EXPECT_NO_THROW(decoder.decode(encode(make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &row))));
	EXPECT_NO_THROW(decoder.decode(encode(make_message(1, "p", std::string_view("\0", 1)))));
}

/* A bogus count must be refused before anything is sized for it. */
TEST(Malformed, HugeCountsAreRejectedWithoutAllocating)
{
	struct Case
	{
		std::string wire;
		std::string message;
	};
	std::vector<Case> cases = {
		{WireBuilder().u8('T').u8(0).u32(UINT32_MAX).u64(0).data(),
			"truncated message: 4294967295 relids need at least 17179869180 bytes, 8 left"},
		{WireBuilder().u8('T').u8(0).u32(3).u64(0).data(),
			"truncated message: 3 relids need at least 12 bytes, 8 left"},
		{WireBuilder().u8('R').u32(1).str("s").str("t").u8('d').u16(UINT16_MAX).u64(0).data(),
			"truncated message: 65535 columns need at least 1114095 bytes, 8 left"},
		{WireBuilder().u8('I').u32(1).u8('N').u16(UINT16_MAX).raw("nnnn").data(),
			"truncated message: 65535 values in new tuple need at least 65535 bytes, 4 left"},
		{WireBuilder().u8('D').u32(1).u8('K').u16(5).raw("nnnn").data(),
			"truncated message: 5 values in old tuple need at least 5 bytes, 4 left"},
		{WireBuilder().u8('M').u8(1).str("p").u32(UINT32_MAX).raw("abc").data(),
			"truncated message: expected 4294967295 bytes for content, 3 left"},
	};

	for (const Case &c : cases)
	{
		/* a fresh decoder has empty arrays: any resize would allocate */
		Decoder		decoder;
		MmrMessage	out{};
		MmrError	err{};
		uint64_t	before = allocation_count();
		MmrStatus	status = decoder.decode(c.wire, out, err);
		uint64_t	allocated = allocation_count() - before;

		EXPECT_EQ(status, MMR_ERR_MALFORMED);
		EXPECT_EQ(std::string(err.message), c.message);
		EXPECT_EQ(allocated, 0u) << c.message;
	}

	/* exactly enough bytes for the count is fine */
	Decoder		decoder;

	EXPECT_NO_THROW(decoder.decode(WireBuilder().u8('I').u32(1).u8('N').u16(4).raw("nnun").data()));
	EXPECT_NO_THROW(decoder.decode(WireBuilder().u8('T').u8(0).u32(2).u64(0).data()));
}

TEST(Version, UnsupportedVersionsAreRefused)
{
	std::string wire = encode(sample_messages()[0].msg);

	for (uint32_t version : {0u, 2u, UINT32_MAX})
	{
		Rejection	decoded = decode_status(wire, version);

		EXPECT_EQ(decoded.status, MMR_ERR_VERSION);
		EXPECT_EQ(decoded.message, "mmr protocol version " + std::to_string(version) + " is not supported");

		Rejection	encoded = encode_status(sample_messages()[0].msg, version);

		EXPECT_EQ(encoded.status, MMR_ERR_VERSION);
		EXPECT_EQ(encoded.message, decoded.message);
	}
	EXPECT_EQ(decode_status(wire, MMR_PROTO_VERSION_MIN).status, MMR_OK);
	EXPECT_EQ(encode_status(sample_messages()[0].msg, MMR_PROTO_VERSION_MAX).status, MMR_OK);
}

TEST(EncoderRefuses, StructurallyImpossibleMessages)
{
	std::vector<MmrValue> row = {null_value()};
	std::vector<MmrValue> bad_kind = {null_value(), MmrValue{'x', {nullptr, 0}}};

	MmrMessage	unknown{};

	unknown.kind = 'Z';
	expect_encode_refused(unknown, "unknown message kind 0x5a");

	expect_encode_refused(make_change(MMR_MSG_INSERT, 1, MMR_OLD_KEY, &row, &row),
						  "insert message must not have an old tuple");
	expect_encode_refused(make_change(MMR_MSG_DELETE, 1, MMR_OLD_NONE, nullptr, nullptr),
						  "delete message needs an old tuple of kind 'K' or 'O'");
	expect_encode_refused(make_change(MMR_MSG_DELETE, 1, MMR_OLD_KEY, &row, &row),
						  "delete message must not have a new tuple");
	expect_encode_refused(make_change(MMR_MSG_UPDATE, 1, 'X', &row, &row),
						  "invalid old tuple kind 0x58");
	expect_encode_refused(make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &bad_kind),
						  "unknown value kind 0x78 in value 2 of new tuple");

	MmrMessage	commit = make_commit(1, 2, 3);

	commit.u.commit.flags = 4;
	expect_encode_refused(commit, "commit flags must be 0, not 0x04");

	expect_encode_refused(make_relation(1, "", "t", 'd', {}), "schema name is empty");
	expect_encode_refused(make_relation(1, "s", "", 'd', {}), "table name is empty");
	expect_encode_refused(make_relation(1, "s", "t", 0, {}), "invalid replica identity 0x00");
}

TEST(EncoderRefuses, NullPointersWithLengths)
{
	MmrMessage	begin = make_begin(1, 2, 3, "");

	begin.u.begin.origin = MmrBytes{nullptr, 3};
	expect_encode_refused(begin, "origin has length 3 but no data");

	MmrMessage	insert = make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, nullptr);

	insert.u.change.new_tuple.natts = 2;
	expect_encode_refused(insert, "new tuple has 2 values but no value array");

	std::vector<MmrValue> row = {MmrValue{MMR_VALUE_BINARY, {nullptr, 1}}};

	expect_encode_refused(make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &row),
						  "binary value has length 1 but no data");

	MmrMessage	relation = make_relation(1, "s", "t", 'd', {});

	relation.u.relation.ncolumns = 1;
	expect_encode_refused(relation, "relation has 1 columns but no column array");

	MmrMessage	truncate = make_truncate(0, {});

	truncate.u.truncate.nrelids = 1;
	expect_encode_refused(truncate, "truncate message has 1 relids but no relid array");

	MmrMessage	message = make_message(0, "p", "");

	message.u.message.content = MmrBytes{nullptr, 9};
	expect_encode_refused(message, "message content has length 9 but no data");
}

/* Whatever the decoder accepts, the encoder accepts and reproduces. */
TEST(EncoderAccepts, WhatTheDecoderAccepts)
{
	std::vector<std::string> wires = {
		/* unknown flag bits in columns, truncate and message are carried as is */
		WireBuilder().u8('R').u32(1).str("s").str("t").u8('d').u16(1)
			.u8(0xFE).str("").u32(0).u32(0x80000000).str("").data(),
		WireBuilder().u8('T').u8(0xFF).u32(0).data(),
		WireBuilder().u8('M').u8(0xFE).str("").str("").data(),
		WireBuilder().u8('B').u64(0).u64(0).u32(0).str("").data(),
	};
	Decoder		decoder;

	for (const std::string &wire : wires)
		EXPECT_EQ(testing::PrintToString(encode(decoder.decode(wire))), testing::PrintToString(wire));
}

}							/* namespace */
