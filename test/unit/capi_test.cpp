/*
 * capi_test.cpp
 *	  The C ABI's general contract (mmr_core.h): the size convention for
 *	  caller buffers, and null or impossible arguments reported through
 *	  MmrError instead of crashing.
 */
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmr_core.h"
#include "test_messages.hpp"

namespace
{

using namespace mmr_test;

constexpr char kSentinel = '\x5a';

/*
 * Checks the size convention for one writer: any cap below the need returns
 * the need without touching bytes past cap; the exact cap (and a larger one)
 * produces the full output and writes nothing past it.
 */
template <typename Write>
void
check_size_convention(Write write, const std::string &expected)
{
	MmrError	err{};
	size_t		needed = write(nullptr, 0, &err);

	ASSERT_EQ(needed, expected.size()) << err.message;

	for (size_t cap : {size_t{0}, size_t{1}, needed / 2, needed - 1})
	{
		std::vector<char> buf(needed + 16, kSentinel);

		EXPECT_EQ(write(buf.data(), cap, &err), needed) << "cap " << cap;
		for (size_t i = cap; i < buf.size(); i++)
			ASSERT_EQ(buf[i], kSentinel) << "cap " << cap << " wrote byte " << i;
	}
	for (size_t cap : {needed, needed + 8})
	{
		std::vector<char> buf(needed + 16, kSentinel);

		EXPECT_EQ(write(buf.data(), cap, &err), needed);
		EXPECT_EQ(std::string(buf.data(), needed), expected);
		for (size_t i = needed; i < buf.size(); i++)
			ASSERT_EQ(buf[i], kSentinel) << "cap " << cap << " wrote byte " << i;
	}
}

TEST(SizeConvention, Encode)
{
	for (const Sample &s : sample_messages())
	{
		SCOPED_TRACE(s.name);
		check_size_convention(
			[&](char *buf, size_t cap, MmrError *err) {
				return mmr_proto_encode(1, &s.msg, buf, cap, err);
			},
			encode(s.msg));
	}
}

TEST(SizeConvention, Json)
{
	for (const Sample &s : sample_messages())
	{
		SCOPED_TRACE(s.name);
		check_size_convention(
			[&](char *buf, size_t cap, MmrError *err) {
				return mmr_message_to_json(&s.msg, buf, cap, err);
			},
			to_json(s.msg));
	}
}

TEST(Arguments, NullPointersAreReported)
{
	MmrMessage	msg = sample_messages()[0].msg;
	MmrError	err{};
	char		buf[64];

	EXPECT_EQ(mmr_proto_encode(1, nullptr, buf, sizeof(buf), &err), 0u);
	EXPECT_EQ(err.status, MMR_ERR_INVALID_ARGUMENT);
	EXPECT_STREQ(err.message, "message to encode is null");

	EXPECT_EQ(mmr_proto_encode(1, &msg, nullptr, 10, &err), 0u);
	EXPECT_STREQ(err.message, "output buffer is null");

	EXPECT_EQ(mmr_message_to_json(nullptr, buf, sizeof(buf), &err), 0u);
	EXPECT_STREQ(err.message, "message to render is null");

	EXPECT_EQ(mmr_message_to_json(&msg, nullptr, 10, &err), 0u);
	EXPECT_STREQ(err.message, "output buffer is null");

	Decoder		decoder;
	MmrMessage	out;

	EXPECT_EQ(mmr_decoder_decode(nullptr, 1, "C", 1, &out, &err), MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(mmr_decoder_decode(decoder.get(), 1, "C", 1, nullptr, &err), MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(mmr_decoder_decode(decoder.get(), 1, nullptr, 5, &out, &err), MMR_ERR_INVALID_ARGUMENT);
	EXPECT_STREQ(err.message, "input data is null");
	EXPECT_EQ(mmr_decoder_decode(decoder.get(), 1, nullptr, 0, &out, &err), MMR_ERR_MALFORMED);

	mmr_decoder_destroy(nullptr);
}

TEST(Arguments, ErrorStructIsOptional)
{
	Decoder		decoder;
	MmrMessage	out;

	EXPECT_EQ(mmr_decoder_decode(decoder.get(), 1, "Z", 1, &out, nullptr), MMR_ERR_MALFORMED);
	EXPECT_EQ(mmr_proto_encode(9, &out, nullptr, 0, nullptr), 0u);
	EXPECT_EQ(mmr_message_to_json(nullptr, nullptr, 0, nullptr), 0u);

	MmrDecoder *d = mmr_decoder_create(nullptr);

	ASSERT_NE(d, nullptr);
	mmr_decoder_destroy(d);
}

TEST(Arguments, ErrorMessagesFollowThePostgresStyle)
{
	std::vector<std::string> inputs = {"", "Z", "B\x01", "C\x01", std::string("I\0\0\0\1N\0\1x", 9)};
	Decoder		decoder;

	for (const std::string &input : inputs)
	{
		MmrMessage	out;
		MmrError	err{};

		ASSERT_EQ(decoder.decode(input, out, err), MMR_ERR_MALFORMED);
		std::string message = err.message;

		ASSERT_FALSE(message.empty());
		EXPECT_TRUE(std::islower(static_cast<unsigned char>(message[0])) ||
					std::isdigit(static_cast<unsigned char>(message[0]))) << message;
		EXPECT_NE(message.back(), '.') << message;
		EXPECT_LT(message.size(), sizeof(err.message));
	}
}

}							/* namespace */
