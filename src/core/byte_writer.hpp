/*
 * byte_writer.hpp
 *	  Big-endian stores straight into the caller's buffer.
 *
 *	  The encoder sizes a message before writing it, so the bounds check here
 *	  is a second line of defence: a mismatch between the sizing and writing
 *	  passes becomes MMR_ERR_INTERNAL instead of a buffer overrun.
 */
#ifndef MMR_CORE_BYTE_WRITER_HPP
#define MMR_CORE_BYTE_WRITER_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "error.hpp"
#include "mmr_core.h"

namespace mmr::core
{

class ByteWriter
{
public:
	ByteWriter(char *buf, size_t cap) noexcept
		: start_(reinterpret_cast<unsigned char *>(buf)), pos_(start_), end_(start_ + cap)
	{
	}

	size_t written() const noexcept { return static_cast<size_t>(pos_ - start_); }

	void u8(uint8_t v) { room(1)[0] = v; }

	void u16(uint16_t v)
	{
		unsigned char *p = room(2);

		p[0] = static_cast<unsigned char>(v >> 8);
		p[1] = static_cast<unsigned char>(v);
	}

	void u32(uint32_t v)
	{
		unsigned char *p = room(4);

		p[0] = static_cast<unsigned char>(v >> 24);
		p[1] = static_cast<unsigned char>(v >> 16);
		p[2] = static_cast<unsigned char>(v >> 8);
		p[3] = static_cast<unsigned char>(v);
	}

	void u64(uint64_t v)
	{
		unsigned char *p = room(8);

		for (int i = 0; i < 8; i++)
			p[i] = static_cast<unsigned char>(v >> (56 - 8 * i));
	}

	void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
	void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }

	void bytes(MmrBytes b)
	{
		unsigned char *p = room(b.len);

		if (b.len != 0)
			std::memcpy(p, b.data, b.len);
	}

	/* "str" on the wire: u32 length, then the bytes. */
	void str(MmrBytes b)
	{
		u32(b.len);
		bytes(b);
	}

private:
	unsigned char *room(size_t n)
	{
		if (n > static_cast<size_t>(end_ - pos_))
			overflow(n);
		unsigned char *p = pos_;

		pos_ += n;
		return p;
	}

	[[noreturn]] MMR_COLD void overflow(size_t n) const
	{
		fail(MMR_ERR_INTERNAL,
			 FMT_STRING("encoder wrote past its computed size: {} more bytes after {}"),
			 n, written());
	}

	unsigned char *start_;
	unsigned char *pos_;
	unsigned char *end_;
};

}							/* namespace mmr::core */

#endif							/* MMR_CORE_BYTE_WRITER_HPP */
