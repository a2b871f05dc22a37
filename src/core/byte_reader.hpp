/*
 * byte_reader.hpp
 *	  Bounds-checked big-endian reads from an untrusted message.
 *
 *	  Every read first checks that enough bytes are left and otherwise
 *	  throws MMR_ERR_MALFORMED naming the field, so the decoder can be
 *	  written as straight-line code without ever reading out of bounds.
 *	  Byte strings are returned as pointers into the input, never copied.
 */
#ifndef MMR_CORE_BYTE_READER_HPP
#define MMR_CORE_BYTE_READER_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "error.hpp"
#include "mmr_core.h"

namespace mmr::core
{

class ByteReader
{
public:
	ByteReader(const char *data, size_t len) noexcept
		: pos_(reinterpret_cast<const unsigned char *>(data)), left_(len)
	{
	}

	size_t left() const noexcept { return left_; }

	/*
	 * Names the part of the message being read (" in new tuple"), appended
	 * to error messages; must point to static storage.
	 */
	void set_where(std::string_view where) noexcept { where_ = where; }
	std::string_view where() const noexcept { return where_; }

	uint8_t u8(std::string_view field)
	{
		need(1, field);
		return take(1)[0];
	}

	uint16_t u16(std::string_view field)
	{
		need(2, field);
		const unsigned char *p = take(2);

		return static_cast<uint16_t>(p[0] << 8 | p[1]);
	}

	uint32_t u32(std::string_view field, std::string_view suffix = {})
	{
		need(4, field, suffix);
		const unsigned char *p = take(4);

		return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 |
			uint32_t{p[2]} << 8 | uint32_t{p[3]};
	}

	uint64_t u64(std::string_view field)
	{
		need(8, field);
		const unsigned char *p = take(8);
		uint64_t	v = 0;

		for (int i = 0; i < 8; i++)
			v = v << 8 | p[i];
		return v;
	}

	/* Two's complement on every platform PostgreSQL supports. */
	int32_t i32(std::string_view field) { return static_cast<int32_t>(u32(field)); }
	int64_t i64(std::string_view field) { return static_cast<int64_t>(u64(field)); }

	/* A byte string of known length; points into the input. */
	MmrBytes bytes(uint32_t len, std::string_view field)
	{
		need(len, field);
		return MmrBytes{reinterpret_cast<const char *>(take(len)), len};
	}

	/* "str" on the wire: u32 length, then the bytes. */
	MmrBytes str(std::string_view field)
	{
		return bytes(u32(field, " length"), field);
	}

	/* Throws unless count items of at least item_size bytes each can follow. */
	void need_items(size_t count, size_t item_size, std::string_view items)
	{
		if (count > left_ / item_size)
			too_many(count, item_size, items);
	}

private:
	void need(size_t n, std::string_view field, std::string_view suffix = {})
	{
		if (n > left_)
			truncated(n, field, suffix);
	}

	const unsigned char *take(size_t n) noexcept
	{
		const unsigned char *p = pos_;

		pos_ += n;
		left_ -= n;
		return p;
	}

	[[noreturn]] MMR_COLD void truncated(size_t n, std::string_view field,
										 std::string_view suffix) const
	{
		fail(MMR_ERR_MALFORMED,
			 FMT_STRING("truncated message: expected {} byte{} for {}{}{}, {} left"),
			 n, n == 1 ? "" : "s", field, suffix, where_, left_);
	}

	[[noreturn]] MMR_COLD void too_many(size_t count, size_t item_size,
										std::string_view items) const
	{
		fail(MMR_ERR_MALFORMED,
			 FMT_STRING("truncated message: {} {}{} need at least {} bytes, {} left"),
			 count, items, where_, count * item_size, left_);
	}

	const unsigned char *pos_;
	size_t		left_;
	std::string_view where_;
};

}							/* namespace mmr::core */

#endif							/* MMR_CORE_BYTE_READER_HPP */
