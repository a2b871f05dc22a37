/*
 * horizon.cpp
 *	  The content of "mmr.horizon" logical messages: a node's applied horizon
 *	  (for each origin, the commit time of the latest of its transactions
 *	  applied), carried by local write transactions and by the manager's
 *	  heartbeat.
 *
 *	  u8 version (1), u16 n, n x { u16 node_id, i64 commit_time }, big-endian.
 *	  The decoder treats its input as untrusted: node ids outside 1..1023,
 *	  duplicates, truncation and trailing bytes are all malformed.
 */
#include <bitset>
#include <cstddef>
#include <cstdint>

#include "byte_reader.hpp"
#include "byte_writer.hpp"
#include "error.hpp"
#include "mmr_core.h"

#include "core_only.hpp"

namespace mmr::core
{

namespace
{

constexpr uint8_t kHorizonVersion = 1;
constexpr int32_t kMaxNodeId = 1023;
constexpr size_t kHeaderSize = 1 + 2;
constexpr size_t kEntrySize = 2 + 8;

bool
valid_node(int32_t node_id) noexcept
{
	return node_id > MMR_NODE_UNKNOWN && node_id <= kMaxNodeId;
}

size_t
encode_horizon(const MmrHorizonEntry *entries, uint32_t n, char *buf, size_t cap)
{
	if (n > UINT16_MAX)
		fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("horizon of {} entries is too long"), n);
	for (uint32_t i = 0; i < n; i++)
		if (!valid_node(entries[i].node_id))
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("horizon entry {} has invalid node id {}"),
				 i, entries[i].node_id);

	size_t		needed = kHeaderSize + kEntrySize * n;

	if (needed > cap)
		return needed;
	ByteWriter	w(buf, cap);

	w.u8(kHorizonVersion);
	w.u16(static_cast<uint16_t>(n));
	for (uint32_t i = 0; i < n; i++)
	{
		w.u16(static_cast<uint16_t>(entries[i].node_id));
		w.i64(entries[i].commit_time);
	}
	return needed;
}

uint32_t
decode_horizon(const char *data, size_t len, MmrHorizonEntry *out, uint32_t cap)
{
	ByteReader	r(data, len);

	r.set_where(" in horizon message");
	uint8_t		version = r.u8("version");

	if (version != kHorizonVersion)
		fail(MMR_ERR_MALFORMED, FMT_STRING("unsupported horizon message version {}"), version);
	uint16_t	n = r.u16("entry count");

	r.need_items(n, kEntrySize, "entries");
	std::bitset<kMaxNodeId + 1> present;

	for (uint32_t i = 0; i < n; i++)
	{
		int32_t		node_id = r.u16("node id");
		int64_t		commit_time = r.i64("commit time");

		if (!valid_node(node_id))
			fail(MMR_ERR_MALFORMED, FMT_STRING("invalid node id {} in horizon message"), node_id);
		if (present.test(static_cast<size_t>(node_id)))
			fail(MMR_ERR_MALFORMED, FMT_STRING("node id {} appears twice in horizon message"),
				 node_id);
		present.set(static_cast<size_t>(node_id));
		if (i < cap)
			out[i] = MmrHorizonEntry{node_id, commit_time};
	}
	if (r.left() != 0)
		fail(MMR_ERR_MALFORMED, FMT_STRING("{} trailing bytes after horizon message"), r.left());
	return n;
}

}							/* namespace */

}							/* namespace mmr::core */

extern "C" size_t
mmr_horizon_encode(const MmrHorizonEntry *entries, uint32_t n, char *buf, size_t cap,
				   MmrError *err) noexcept
{
	size_t		needed = 0;

	if (mmr::core::run_guarded(err, [&] {
			if (entries == nullptr && n != 0)
				mmr::core::fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("horizon entries are null"));
			if (buf == nullptr && cap != 0)
				mmr::core::fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("output buffer is null"));
			needed = mmr::core::encode_horizon(entries, n, buf, cap);
		}) != MMR_OK)
		return 0;
	return needed;
}

extern "C" int32_t
mmr_horizon_decode(const char *data, size_t len, MmrHorizonEntry *out, uint32_t cap,
				   MmrError *err) noexcept
{
	int32_t		n = -1;

	if (mmr::core::run_guarded(err, [&] {
			if (data == nullptr && len != 0)
				mmr::core::fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("horizon message is null"));
			if (out == nullptr && cap != 0)
				mmr::core::fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("horizon output is null"));
			n = static_cast<int32_t>(mmr::core::decode_horizon(data, len, out, cap));
		}) != MMR_OK)
		return -1;
	return n;
}
