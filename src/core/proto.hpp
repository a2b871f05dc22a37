/*
 * proto.hpp
 *	  The core's internal interface to the mmr protocol (docs/protocol.md):
 *	  the encoder, the decoder and the JSON renderer, plus the rules they
 *	  share.  capi.cpp exposes them through mmr_core.h.
 *
 *	  One definition of "a valid message" serves everyone: the encoder and the
 *	  renderer accept exactly the messages the decoder can produce (plus the
 *	  pointer checks only a caller can get wrong), so encode(decode(x)) == x.
 */
#ifndef MMR_CORE_PROTO_HPP
#define MMR_CORE_PROTO_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "mmr_core.h"

namespace mmr::core
{

/* Throws MMR_ERR_VERSION unless this build speaks `version`. */
inline void
check_version(uint32_t version)
{
	if (version < MMR_PROTO_VERSION_MIN || version > MMR_PROTO_VERSION_MAX)
		fail(MMR_ERR_VERSION,
			 FMT_STRING("mmr protocol version {} is not supported"), version);
}

/* The message kind's name as the JSON "type", or empty when unknown. */
inline std::string_view
message_kind_name(uint8_t kind) noexcept
{
	switch (kind)
	{
		case MMR_MSG_BEGIN:
			return "begin";
		case MMR_MSG_COMMIT:
			return "commit";
		case MMR_MSG_RELATION:
			return "relation";
		case MMR_MSG_INSERT:
			return "insert";
		case MMR_MSG_UPDATE:
			return "update";
		case MMR_MSG_DELETE:
			return "delete";
		case MMR_MSG_TRUNCATE:
			return "truncate";
		case MMR_MSG_MESSAGE:
			return "message";
	}
	return {};
}

/* True when [data, data + len) contains a NUL byte. */
inline bool
has_nul(const char *data, size_t len) noexcept
{
	return len != 0 && std::memchr(data, '\0', len) != nullptr;
}

/* pg_class.relreplident values */
inline bool
is_replica_identity(uint8_t c) noexcept
{
	return c == 'd' || c == 'n' || c == 'f' || c == 'i';
}

/*
 * Checks msg against the protocol's rules and returns its encoded size.
 * Throws MMR_ERR_INVALID_ARGUMENT for a message that cannot be sent.
 */
size_t		encoded_size(const MmrMessage &msg);

/* mmr_proto_encode without the C wrapping; follows the size convention. */
size_t		encode_message(uint32_t version, const MmrMessage &msg, char *buf, size_t cap);

/*
 * Decodes untrusted bytes.  The arrays that decoded messages point into are
 * kept between calls, so steady-state decoding does not allocate.
 */
class Decoder
{
public:
	/* Decodes the one message that (data, len) must hold exactly. */
	void		decode(uint32_t version, const char *data, size_t len, MmrMessage &out);

	/* Decodes the first message of a batch; returns its length. */
	size_t		decode_first(uint32_t version, const char *data, size_t len, MmrMessage &out);

private:
	std::vector<MmrValue> old_values_;
	std::vector<MmrValue> new_values_;
	std::vector<MmrColumn> columns_;
	std::vector<uint32_t> relids_;
};

/* mmr_message_to_json without the C wrapping; follows the size convention. */
size_t		render_json(const MmrMessage &msg, char *buf, size_t cap);

/* True when [data, data + len) is well-formed UTF-8 without any NUL byte. */
bool		is_utf8_without_nul(const char *data, size_t len) noexcept;

}							/* namespace mmr::core */

#endif							/* MMR_CORE_PROTO_HPP */
