/*
 * ddl_message.cpp
 *	  The content of "mmr.ddl" logical messages: a replicated DDL command
 *	  with the role and search_path it ran with on its origin.
 *
 *	  u8 version (1), str role, str search_path, str command, big-endian
 *	  lengths.  The decoder treats its input as untrusted: an empty role or
 *	  command, a NUL byte, truncation and trailing bytes are all malformed.
 */
#include <cstddef>
#include <cstdint>

#include "byte_reader.hpp"
#include "byte_writer.hpp"
#include "error.hpp"
#include "mmr_core.h"
#include "proto.hpp"

#include "core_only.hpp"

namespace mmr::core
{

namespace
{

constexpr uint8_t kDdlVersion = 1;

void
check_field(MmrBytes b, const char *field, bool may_be_empty, MmrStatus status)
{
	if (b.data == nullptr && b.len != 0)
		fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("DDL message {} is null"), field);
	if (b.len == 0 && !may_be_empty)
		fail(status, FMT_STRING("empty {} in DDL message"), field);
	if (has_nul(b.data, b.len))
		fail(status, FMT_STRING("NUL byte in {} of DDL message"), field);
}

size_t
encode_ddl(const MmrDdlMessage &msg, char *buf, size_t cap)
{
	check_field(msg.role, "role", false, MMR_ERR_INVALID_ARGUMENT);
	check_field(msg.search_path, "search_path", true, MMR_ERR_INVALID_ARGUMENT);
	check_field(msg.command, "command", false, MMR_ERR_INVALID_ARGUMENT);

	size_t		needed = 1 + 3 * size_t{4} + size_t{msg.role.len} +
		msg.search_path.len + msg.command.len;

	if (needed > cap)
		return needed;
	ByteWriter	w(buf, cap);

	w.u8(kDdlVersion);
	w.str(msg.role);
	w.str(msg.search_path);
	w.str(msg.command);
	return needed;
}

void
decode_ddl(const char *data, size_t len, MmrDdlMessage &out)
{
	ByteReader	r(data, len);

	r.set_where(" in DDL message");
	uint8_t		version = r.u8("version");

	if (version != kDdlVersion)
		fail(MMR_ERR_MALFORMED, FMT_STRING("unsupported DDL message version {}"), version);
	out.role = r.str("role");
	out.search_path = r.str("search_path");
	out.command = r.str("command");
	if (r.left() != 0)
		fail(MMR_ERR_MALFORMED, FMT_STRING("{} trailing bytes after DDL message"), r.left());
	check_field(out.role, "role", false, MMR_ERR_MALFORMED);
	check_field(out.search_path, "search_path", true, MMR_ERR_MALFORMED);
	check_field(out.command, "command", false, MMR_ERR_MALFORMED);
}

}							/* namespace */

}							/* namespace mmr::core */

extern "C" size_t
mmr_ddl_message_encode(const MmrDdlMessage *msg, char *buf, size_t cap,
					   MmrError *err) noexcept
{
	size_t		needed = 0;

	if (mmr::core::run_guarded(err, [&] {
			if (msg == nullptr)
				mmr::core::fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("DDL message is null"));
			if (buf == nullptr && cap != 0)
				mmr::core::fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("output buffer is null"));
			needed = mmr::core::encode_ddl(*msg, buf, cap);
		}) != MMR_OK)
		return 0;
	return needed;
}

extern "C" MmrStatus
mmr_ddl_message_decode(const char *data, size_t len, MmrDdlMessage *out,
					   MmrError *err) noexcept
{
	return mmr::core::run_guarded(err, [&] {
		if ((data == nullptr && len != 0) || out == nullptr)
			mmr::core::fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("DDL message input is null"));
		mmr::core::decode_ddl(data, len, *out);
	});
}
