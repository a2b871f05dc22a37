/*
 * proto_batch_test.cpp
 *	  A CopyData may carry several whole messages (docs/protocol.md):
 *	  mmr_decoder_decode_first takes them one by one, reports each length,
 *	  and rejects a batch whose last message is cut short.
 */
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmr_core.h"
#include "test_messages.hpp"

namespace
{

using namespace mmr_test;

TEST(Batch, EveryMessageOfABatchIsDecodedInOrder)
{
	std::vector<Sample> samples = sample_messages();
	std::string batch;
	std::vector<size_t> lengths;

	for (const Sample &s : samples)
	{
		std::string wire = encode(s.msg);

		lengths.push_back(wire.size());
		batch += wire;
	}

	Decoder		decoder;
	size_t		pos = 0;

	for (size_t i = 0; i < samples.size(); i++)
	{
		MmrMessage	out{};
		MmrError	err{};
		size_t		consumed = 0;

		ASSERT_EQ(mmr_decoder_decode_first(decoder.get(), 1, batch.data() + pos,
										   batch.size() - pos, &out, &consumed, &err),
				  MMR_OK)
			<< samples[i].name << ": " << err.message;
		EXPECT_EQ(consumed, lengths[i]) << samples[i].name;
		EXPECT_EQ(diff_messages(samples[i].msg, out), "") << samples[i].name;
		pos += consumed;
	}
	EXPECT_EQ(pos, batch.size());
}

TEST(Batch, ACutLastMessageIsRejected)
{
	std::vector<Sample> samples = sample_messages();
	std::string first = encode(samples[0].msg);
	std::string second = encode(samples[1].msg);
	std::string batch = first + second.substr(0, second.size() - 1);
	Decoder		decoder;
	MmrMessage	out{};
	MmrError	err{};
	size_t		consumed = 0;

	ASSERT_EQ(mmr_decoder_decode_first(decoder.get(), 1, batch.data(), batch.size(),
									   &out, &consumed, &err), MMR_OK);
	ASSERT_EQ(consumed, first.size());
	EXPECT_EQ(mmr_decoder_decode_first(decoder.get(), 1, batch.data() + consumed,
									   batch.size() - consumed, &out, &consumed, &err),
			  MMR_ERR_MALFORMED);
}

TEST(Batch, NullArgumentsAreRejected)
{
	Decoder		decoder;
	MmrMessage	out{};
	MmrError	err{};
	size_t		consumed = 0;

	EXPECT_EQ(mmr_decoder_decode_first(decoder.get(), 1, "C", 1, &out, nullptr, &err),
			  MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(mmr_decoder_decode_first(nullptr, 1, "C", 1, &out, &consumed, &err),
			  MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(mmr_decoder_decode_first(decoder.get(), 1, "", 0, &out, &consumed, &err),
			  MMR_ERR_MALFORMED);
}

}							/* namespace */
