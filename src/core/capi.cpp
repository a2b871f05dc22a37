/*
 * capi.cpp
 *	  The extern "C" entry points of mmr_core.h for the protocol: encoder,
 *	  decoder handle and JSON renderer (mmr_dsn_mask lives in dsn.cpp).
 *
 *	  Each one is noexcept and runs its body through run_guarded(), which
 *	  turns every exception into an MmrError; argument checks that only a C
 *	  caller can get wrong (null pointers) are made here.
 */
#include <cstddef>
#include <cstdint>

#include "error.hpp"
#include "mmr_core.h"
#include "proto.hpp"

#include "core_only.hpp"

using mmr::core::fail;
using mmr::core::run_guarded;

/* The opaque handle of mmr_core.h. */
struct MmrDecoder
{
	mmr::core::Decoder decoder;
};

extern "C" size_t
mmr_proto_encode(uint32_t version, const MmrMessage *msg, char *buf, size_t cap,
				 MmrError *err) noexcept
{
	size_t		needed = 0;

	if (run_guarded(err, [&] {
			if (msg == nullptr)
				fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("message to encode is null"));
			if (buf == nullptr && cap != 0)
				fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("output buffer is null"));
			needed = mmr::core::encode_message(version, *msg, buf, cap);
		}) != MMR_OK)
		return 0;
	return needed;
}

extern "C" MmrDecoder *
mmr_decoder_create(MmrError *err) noexcept
{
	MmrDecoder *decoder = nullptr;

	if (run_guarded(err, [&] { decoder = new MmrDecoder(); }) != MMR_OK)
		return nullptr;
	return decoder;
}

extern "C" void
mmr_decoder_destroy(MmrDecoder *decoder) noexcept
{
	delete decoder;
}

extern "C" MmrStatus
mmr_decoder_decode(MmrDecoder *decoder, uint32_t version, const char *data, size_t len,
				   MmrMessage *out, MmrError *err) noexcept
{
	return run_guarded(err, [&] {
		if (decoder == nullptr || out == nullptr)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("decoder or output message is null"));
		if (data == nullptr && len != 0)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("input data is null"));
		decoder->decoder.decode(version, data, len, *out);
	});
}

extern "C" MmrStatus
mmr_decoder_decode_first(MmrDecoder *decoder, uint32_t version, const char *data, size_t len,
						 MmrMessage *out, size_t *consumed, MmrError *err) noexcept
{
	return run_guarded(err, [&] {
		if (decoder == nullptr || out == nullptr || consumed == nullptr)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("decoder, output message or length is null"));
		if (data == nullptr && len != 0)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("input data is null"));
		*consumed = decoder->decoder.decode_first(version, data, len, *out);
	});
}

extern "C" size_t
mmr_message_to_json(const MmrMessage *msg, char *buf, size_t cap, MmrError *err) noexcept
{
	size_t		needed = 0;

	if (run_guarded(err, [&] {
			if (msg == nullptr)
				fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("message to render is null"));
			if (buf == nullptr && cap != 0)
				fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("output buffer is null"));
			needed = mmr::core::render_json(*msg, buf, cap);
		}) != MMR_OK)
		return 0;
	return needed;
}
