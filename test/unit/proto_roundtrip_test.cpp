/*
 * proto_roundtrip_test.cpp
 *	  The encoder and decoder agree: every sample message survives
 *	  encode -> decode field by field, golden byte arrays pin the wire format
 *	  of docs/protocol.md, large counts work, and a decoder reused across
 *	  many messages gives complete results and stops allocating once warmed
 *	  up.
 */
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "alloc_counter.hpp"
#include "mmr_core.h"
#include "test_messages.hpp"

namespace
{

using namespace mmr_test;

class RoundTrip : public testing::TestWithParam<Sample>
{
};

TEST_P(RoundTrip, EncodeDecodeGivesTheSameMessage)
{
	const Sample &sample = GetParam();
	std::string wire = encode(sample.msg);
	Decoder		decoder;
	MmrMessage	decoded = decoder.decode(wire);

	EXPECT_EQ(diff_messages(sample.msg, decoded), "");
	/* canonical encoding: re-encoding gives the same bytes */
	EXPECT_EQ(encode(decoded), wire);
}

TEST_P(RoundTrip, DecodedBytesPointIntoTheInput)
{
	std::string wire = encode(GetParam().msg);
	Decoder		decoder;
	MmrMessage	m = decoder.decode(wire);
	const char *begin = wire.data();
	const char *end = begin + wire.size();
	auto		inside = [&](MmrBytes b) {
		return b.len == 0 || (b.data >= begin && b.data + b.len <= end);
	};

	switch (m.kind)
	{
		case MMR_MSG_BEGIN:
			EXPECT_TRUE(inside(m.u.begin.origin));
			break;
		case MMR_MSG_RELATION:
			EXPECT_TRUE(inside(m.u.relation.nspname));
			EXPECT_TRUE(inside(m.u.relation.relname));
			for (uint16_t i = 0; i < m.u.relation.ncolumns; i++)
			{
				EXPECT_TRUE(inside(m.u.relation.columns[i].name));
				EXPECT_TRUE(inside(m.u.relation.columns[i].type_name));
			}
			break;
		case MMR_MSG_INSERT:
		case MMR_MSG_UPDATE:
		case MMR_MSG_DELETE:
			for (const MmrTuple *t : {&m.u.change.old_tuple, &m.u.change.new_tuple})
				for (uint16_t i = 0; i < t->natts; i++)
					EXPECT_TRUE(inside(t->values[i].data));
			break;
		case MMR_MSG_MESSAGE:
			EXPECT_TRUE(inside(m.u.message.prefix));
			EXPECT_TRUE(inside(m.u.message.content));
			break;
	}
}

INSTANTIATE_TEST_SUITE_P(Samples, RoundTrip, testing::ValuesIn(sample_messages()),
						 [](const testing::TestParamInfo<Sample> &info) {
							 return std::string(info.param.name);
						 });

/* Expected bytes are written out by hand from docs/protocol.md. */
std::string
bytes_of(std::initializer_list<int> list)
{
	std::string s;

	for (int b : list)
		s.push_back(static_cast<char>(b));
	return s;
}

void
expect_golden(const MmrMessage &msg, const std::string &expected)
{
	EXPECT_EQ(testing::PrintToString(encode(msg)), testing::PrintToString(expected));

	Decoder		decoder;

	EXPECT_EQ(diff_messages(msg, decoder.decode(expected)), "");
}

TEST(GoldenBytes, Begin)
{
	expect_golden(make_begin(0x0102030405060708, -2, 0xDEADBEEF, "ab"),
				  bytes_of({'B',
							1, 2, 3, 4, 5, 6, 7, 8,
							0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
							0xDE, 0xAD, 0xBE, 0xEF,
							0, 0, 0, 2, 'a', 'b'}));
}

TEST(GoldenBytes, Commit)
{
	expect_golden(make_commit(0x10, 0x100000000, 1),
				  bytes_of({'C', 0,
							0, 0, 0, 0, 0, 0, 0, 0x10,
							0, 0, 0, 1, 0, 0, 0, 0,
							0, 0, 0, 0, 0, 0, 0, 1}));
}

TEST(GoldenBytes, Relation)
{
	std::vector<MmrColumn> columns = {
		{MMR_COLUMN_KEY, bytes("id"), 23, -1, bytes("integer")},
		{0, bytes("v"), 25, 5, bytes("text")},
	};

	expect_golden(make_relation(0x4001, "public", "t", 'd', columns),
				  bytes_of({'R', 0, 0, 0x40, 0x01,
							0, 0, 0, 6, 'p', 'u', 'b', 'l', 'i', 'c',
							0, 0, 0, 1, 't',
							'd',
							0, 2,
							1, 0, 0, 0, 2, 'i', 'd', 0, 0, 0, 23, 0xFF, 0xFF, 0xFF, 0xFF,
							0, 0, 0, 7, 'i', 'n', 't', 'e', 'g', 'e', 'r',
							0, 0, 0, 0, 1, 'v', 0, 0, 0, 25, 0, 0, 0, 5,
							0, 0, 0, 4, 't', 'e', 'x', 't'}));
}

TEST(GoldenBytes, Insert)
{
	std::vector<MmrValue> values = {
		null_value(), unchanged_value(), text_value("hi"),
		binary_value(std::string_view("\x00\xff", 2)),
	};

	expect_golden(make_change(MMR_MSG_INSERT, 16384, MMR_OLD_NONE, nullptr, &values),
				  bytes_of({'I', 0, 0, 0x40, 0,
							'N', 0, 4,
							'n',
							'u',
							't', 0, 0, 0, 2, 'h', 'i',
							'b', 0, 0, 0, 2, 0x00, 0xFF}));
}

TEST(GoldenBytes, UpdateWithKey)
{
	std::vector<MmrValue> old_values = {text_value("1")};
	std::vector<MmrValue> new_values = {text_value("1"), null_value()};

	expect_golden(make_change(MMR_MSG_UPDATE, 7, MMR_OLD_KEY, &old_values, &new_values),
				  bytes_of({'U', 0, 0, 0, 7,
							'K', 0, 1, 't', 0, 0, 0, 1, '1',
							'N', 0, 2, 't', 0, 0, 0, 1, '1', 'n'}));
}

TEST(GoldenBytes, UpdateWithoutOld)
{
	std::vector<MmrValue> new_values = {unchanged_value()};

	expect_golden(make_change(MMR_MSG_UPDATE, 7, MMR_OLD_NONE, nullptr, &new_values),
				  bytes_of({'U', 0, 0, 0, 7, 'N', 0, 1, 'u'}));
}

TEST(GoldenBytes, DeleteFull)
{
	std::vector<MmrValue> old_values = {unchanged_value(), binary_value("")};

	expect_golden(make_change(MMR_MSG_DELETE, 7, MMR_OLD_FULL, &old_values, nullptr),
				  bytes_of({'D', 0, 0, 0, 7, 'O', 0, 2, 'u', 'b', 0, 0, 0, 0}));
}

TEST(GoldenBytes, Truncate)
{
	std::vector<uint32_t> relids = {1, 0x01020304};

	expect_golden(make_truncate(MMR_TRUNCATE_CASCADE | MMR_TRUNCATE_RESTART_IDENTITY, relids),
				  bytes_of({'T', 3,
							0, 0, 0, 2,
							0, 0, 0, 1,
							1, 2, 3, 4}));
}

TEST(GoldenBytes, Message)
{
	expect_golden(make_message(MMR_MESSAGE_TRANSACTIONAL, "p", std::string_view("\0x", 2)),
				  bytes_of({'M', 1, 0, 0, 0, 1, 'p', 0, 0, 0, 2, 0, 'x'}));
}

TEST(LargeCounts, TupleWithMaximumValues)
{
	std::vector<MmrValue> values(UINT16_MAX);

	for (size_t i = 0; i < values.size(); i++)
	{
		switch (i % 4)
		{
			case 0: values[i] = null_value(); break;
			case 1: values[i] = unchanged_value(); break;
			case 2: values[i] = text_value("x"); break;
			default: values[i] = binary_value(""); break;
		}
	}
	MmrMessage	msg = make_change(MMR_MSG_UPDATE, 9, MMR_OLD_FULL, &values, &values);
	std::string wire = encode(msg);
	Decoder		decoder;

	EXPECT_EQ(diff_messages(msg, decoder.decode(wire)), "");
}

TEST(LargeCounts, RelationWithMaximumColumns)
{
	std::vector<std::string> names;
	std::vector<MmrColumn> columns(UINT16_MAX);

	names.reserve(UINT16_MAX);
	for (size_t i = 0; i < columns.size(); i++)
	{
		names.push_back("c" + std::to_string(i));
		columns[i] = MmrColumn{static_cast<uint8_t>(i % 2), bytes(names.back()),
							   static_cast<uint32_t>(i), static_cast<int32_t>(i) - 1,
							   bytes("integer")};
	}
	MmrMessage	msg = make_relation(77, "s", "wide", 'f', columns);
	Decoder		decoder;

	EXPECT_EQ(diff_messages(msg, decoder.decode(encode(msg))), "");
}

TEST(LargeCounts, ManyRelidsAndLargeValues)
{
	std::vector<uint32_t> relids(1000000);

	for (size_t i = 0; i < relids.size(); i++)
		relids[i] = static_cast<uint32_t>(i * 2654435761u);

	Decoder		decoder;
	MmrMessage	truncate = make_truncate(0, relids);

	EXPECT_EQ(diff_messages(truncate, decoder.decode(encode(truncate))), "");

	std::string big_text(4 << 20, 'a');
	std::string big_binary(4 << 20, '\0');
	std::vector<MmrValue> values = {text_value(big_text), binary_value(big_binary)};
	MmrMessage	insert = make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &values);

	EXPECT_EQ(diff_messages(insert, decoder.decode(encode(insert))), "");

	MmrMessage	message = make_message(1, "big", big_binary);

	EXPECT_EQ(diff_messages(message, decoder.decode(encode(message))), "");
}

TEST(DecoderReuse, ManyMessagesInARow)
{
	std::vector<Sample> samples = sample_messages();
	std::vector<std::string> wires;

	for (const Sample &s : samples)
		wires.push_back(encode(s.msg));

	Decoder		decoder;

	/* In order, reversed and interleaved: each result is complete and right. */
	for (int round = 0; round < 3; round++)
	{
		for (size_t k = 0; k < samples.size(); k++)
		{
			size_t		i = round == 0 ? k : round == 1 ? samples.size() - 1 - k
				: (k * 7) % samples.size();

			EXPECT_EQ(diff_messages(samples[i].msg, decoder.decode(wires[i])), "")
				<< samples[i].name;
		}
	}
}

TEST(DecoderReuse, WideThenNarrowRowsReuseStorage)
{
	std::vector<MmrValue> wide(100, text_value("w"));
	std::vector<MmrValue> narrow = {text_value("n"), null_value()};
	std::string wide_wire = encode(make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &wide));
	std::string narrow_wire = encode(make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &narrow));
	Decoder		decoder;

	const MmrValue *first = decoder.decode(wide_wire).u.change.new_tuple.values;
	MmrMessage	m = decoder.decode(narrow_wire);

	EXPECT_EQ(m.u.change.new_tuple.values, first);
	ASSERT_EQ(m.u.change.new_tuple.natts, 2);
	EXPECT_EQ(view(m.u.change.new_tuple.values[0].data), "n");
	EXPECT_EQ(m.u.change.new_tuple.values[1].kind, MMR_VALUE_NULL);
}

TEST(DecoderReuse, SteadyStateDoesNotAllocate)
{
	std::vector<Sample> samples = sample_messages();
	std::vector<std::string> wires;
	std::vector<MmrMessage> decoded(samples.size());
	std::string json(4096, '\0');
	std::string out(4096, '\0');
	MmrError	err{};

	for (const Sample &s : samples)
		wires.push_back(encode(s.msg));

	Decoder		decoder;

	/* warm up: the decoder's arrays grow to the widest sample */
	for (const std::string &w : wires)
		decoder.decode(w);

	uint64_t	before = allocation_count();

	for (int round = 0; round < 1000; round++)
	{
		for (size_t i = 0; i < wires.size(); i++)
		{
			MmrMessage	m;

			if (decoder.decode(wires[i], m, err) != MMR_OK)
				FAIL() << err.message;
			/* the encoder and renderer write into caller buffers only */
			if (mmr_proto_encode(1, &m, out.data(), out.size(), &err) != wires[i].size())
				FAIL() << err.message;
			if (mmr_message_to_json(&m, json.data(), json.size(), &err) == 0)
				FAIL() << err.message;
		}
	}
	EXPECT_EQ(allocation_count() - before, 0u);
}

}							/* namespace */
