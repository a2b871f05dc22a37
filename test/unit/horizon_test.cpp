/*
 * horizon_test.cpp
 *	  The "mmr.horizon" message codec: exact bytes, round trips, the size
 *	  convention, and rejection of every malformed input.
 */
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mmr_core.h"

namespace
{

std::string
encode(const std::vector<MmrHorizonEntry> &entries)
{
	MmrError	err{};
	size_t		needed = mmr_horizon_encode(entries.data(), static_cast<uint32_t>(entries.size()),
											nullptr, 0, &err);

	EXPECT_GT(needed, 0u) << err.message;
	std::string out(needed, '\0');

	EXPECT_EQ(mmr_horizon_encode(entries.data(), static_cast<uint32_t>(entries.size()),
								 out.data(), out.size(), &err), needed);
	return out;
}

int32_t
decode(const std::string &bytes, std::vector<MmrHorizonEntry> &out, MmrError &err)
{
	return mmr_horizon_decode(bytes.data(), bytes.size(), out.data(),
							  static_cast<uint32_t>(out.size()), &err);
}

void
expect_malformed(const std::string &bytes, const std::string &message)
{
	std::vector<MmrHorizonEntry> out(8);
	MmrError	err{};

	EXPECT_EQ(decode(bytes, out, err), -1) << message;
	EXPECT_EQ(err.status, MMR_ERR_MALFORMED);
	EXPECT_EQ(std::string(err.message), message);
}

const std::vector<MmrHorizonEntry> kThree = {
	{1, 0x0102030405060708LL}, {2, -1}, {1023, std::numeric_limits<int64_t>::max()},
};

TEST(HorizonCodec, ExactBytes)
{
	std::string bytes = encode({{1, 0x0102030405060708LL}, {0x0203, -2}});

	EXPECT_EQ(bytes, std::string("\x01\x00\x02"
								 "\x00\x01\x01\x02\x03\x04\x05\x06\x07\x08"
								 "\x02\x03\xff\xff\xff\xff\xff\xff\xff\xfe", 23)) ;
	EXPECT_EQ(encode({}), std::string("\x01\x00\x00", 3));
}

TEST(HorizonCodec, RoundTrip)
{
	std::vector<MmrHorizonEntry> many;

	for (int32_t id = 1; id <= 1023; id++)
		many.push_back({id, id * 1000003LL - 500000000LL});
	for (const auto &entries : {std::vector<MmrHorizonEntry>{}, kThree, many})
	{
		std::string bytes = encode(entries);
		std::vector<MmrHorizonEntry> out(entries.size() + 1, MmrHorizonEntry{-7, -7});
		MmrError	err{};

		ASSERT_EQ(decode(bytes, out, err), static_cast<int32_t>(entries.size())) << err.message;
		for (size_t i = 0; i < entries.size(); i++)
		{
			EXPECT_EQ(out[i].node_id, entries[i].node_id);
			EXPECT_EQ(out[i].commit_time, entries[i].commit_time);
		}
		EXPECT_EQ(out[entries.size()].node_id, -7);
	}
}

TEST(HorizonCodec, SizeConvention)
{
	MmrError	err{};
	size_t		needed = mmr_horizon_encode(kThree.data(), 3, nullptr, 0, &err);

	ASSERT_EQ(needed, 3u + 3 * 10);
	std::string buf(needed - 1, '\x5a');

	EXPECT_EQ(mmr_horizon_encode(kThree.data(), 3, buf.data(), buf.size(), &err), needed);
	EXPECT_EQ(buf, std::string(needed - 1, '\x5a'));
}

TEST(HorizonCodec, MoreEntriesThanCapReturnsTheCount)
{
	std::string bytes = encode(kThree);
	std::vector<MmrHorizonEntry> out(2, MmrHorizonEntry{-7, -7});
	MmrError	err{};

	EXPECT_EQ(mmr_horizon_decode(bytes.data(), bytes.size(), out.data(), 1, &err), 3);
	EXPECT_EQ(out[0].node_id, 1);
	EXPECT_EQ(out[1].node_id, -7);
	EXPECT_EQ(mmr_horizon_decode(bytes.data(), bytes.size(), nullptr, 0, &err), 3);
}

TEST(HorizonCodec, EveryTruncationIsRejected)
{
	std::string bytes = encode(kThree);

	for (size_t len = 0; len < bytes.size(); len++)
	{
		std::vector<MmrHorizonEntry> out(8);
		MmrError	err{};

		EXPECT_EQ(mmr_horizon_decode(bytes.data(), len, out.data(), 8, &err), -1) << len;
		EXPECT_EQ(err.status, MMR_ERR_MALFORMED) << len;
		EXPECT_EQ(std::string(err.message).rfind("truncated message: ", 0), 0u) << err.message;
	}
	expect_malformed(std::string("\x01\x00\x03", 3) + std::string(29, '\x01'),
					 "truncated message: 3 entries in horizon message need at least 30 bytes, 29 left");
	expect_malformed(std::string("", 0),
					 "truncated message: expected 1 byte for version in horizon message, 0 left");
}

TEST(HorizonCodec, CountBeyondTheDataIsRejected)
{
	expect_malformed(std::string("\x01\xff\xff", 3) + std::string(10, '\x01'),
					 "truncated message: 65535 entries in horizon message need at least 655350 bytes, 10 left");
}

TEST(HorizonCodec, TrailingBytesAreRejected)
{
	expect_malformed(encode(kThree) + "x", "1 trailing bytes after horizon message");
	expect_malformed(std::string("\x01\x00\x00\x00\x00", 5), "2 trailing bytes after horizon message");
}

TEST(HorizonCodec, BadVersionsAndNodeIdsAreRejected)
{
	expect_malformed(std::string("\x02\x00\x00", 3), "unsupported horizon message version 2");
	expect_malformed(std::string("\x00\x00\x00", 3), "unsupported horizon message version 0");
	std::string entry_0 = std::string("\x01\x00\x01\x00\x00", 5) + std::string(8, '\0');
	std::string entry_1024 = std::string("\x01\x00\x01\x04\x00", 5) + std::string(8, '\0');

	expect_malformed(entry_0, "invalid node id 0 in horizon message");
	expect_malformed(entry_1024, "invalid node id 1024 in horizon message");
	std::string twice = encode({{5, 1}, {6, 2}});

	twice[13 + 1] = '\x05';
	expect_malformed(twice, "node id 5 appears twice in horizon message");
}

TEST(HorizonCodec, EncodeRejectsImpossibleEntries)
{
	for (int32_t id : {0, -1, 1024, 65536})
	{
		MmrHorizonEntry entry{id, 1};
		char		buf[32];
		MmrError	err{};

		EXPECT_EQ(mmr_horizon_encode(&entry, 1, buf, sizeof(buf), &err), 0u) << id;
		EXPECT_EQ(err.status, MMR_ERR_INVALID_ARGUMENT);
	}
	MmrError	err{};

	EXPECT_EQ(mmr_horizon_encode(nullptr, 1, nullptr, 0, &err), 0u);
	EXPECT_EQ(err.status, MMR_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(mmr_horizon_encode(kThree.data(), 3, nullptr, 64, &err), 0u);
	EXPECT_EQ(mmr_horizon_decode(nullptr, 3, nullptr, 0, &err), -1);
	EXPECT_EQ(err.status, MMR_ERR_INVALID_ARGUMENT);
}

}							/* namespace */
