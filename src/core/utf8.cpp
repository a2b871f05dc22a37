/*
 * utf8.cpp
 *	  UTF-8 validation for the JSON renderer: a byte string is rendered as a
 *	  JSON string only when it is well-formed UTF-8 without NUL, so that the
 *	  output is always valid JSON that jsonb_in accepts (jsonb rejects
 *	  \u0000).  Strict per RFC 3629: no overlong forms, no surrogates,
 *	  nothing above U+10FFFF.
 */
#include <cstdint>
#include <cstring>

#include "proto.hpp"

#include "core_only.hpp"

namespace mmr::core
{

namespace
{

/* True when all 8 bytes of w are ASCII and none is NUL. */
inline bool
ascii_without_nul(uint64_t w) noexcept
{
	constexpr uint64_t kOnes = 0x0101010101010101ULL;
	constexpr uint64_t kHighs = 0x8080808080808080ULL;

	/* (w - ones) & ~w & highs is nonzero iff some byte of w is zero */
	return (w & kHighs) == 0 && ((w - kOnes) & ~w & kHighs) == 0;
}

}							/* namespace */

bool
is_utf8_without_nul(const char *data, size_t len) noexcept
{
	const unsigned char *s = reinterpret_cast<const unsigned char *>(data);
	const unsigned char *end = s + len;

	while (s < end)
	{
		/* Text is mostly ASCII: skip it a word at a time. */
		if (end - s >= 8)
		{
			uint64_t	w;

			std::memcpy(&w, s, 8);
			if (ascii_without_nul(w))
			{
				s += 8;
				continue;
			}
		}

		unsigned char c = *s;

		if (c < 0x80)
		{
			if (c == 0)
				return false;
			s++;
			continue;
		}

		/* Lead byte: number of continuation bytes and the range of the first. */
		size_t		more;
		unsigned char lo = 0x80;
		unsigned char hi = 0xBF;

		if (c >= 0xC2 && c <= 0xDF)
			more = 1;
		else if (c == 0xE0)
		{
			more = 2;
			lo = 0xA0;			/* no overlong 3-byte forms */
		}
		else if (c == 0xED)
		{
			more = 2;
			hi = 0x9F;			/* no UTF-16 surrogates */
		}
		else if (c >= 0xE1 && c <= 0xEF)
			more = 2;
		else if (c == 0xF0)
		{
			more = 3;
			lo = 0x90;			/* no overlong 4-byte forms */
		}
		else if (c >= 0xF1 && c <= 0xF3)
			more = 3;
		else if (c == 0xF4)
		{
			more = 3;
			hi = 0x8F;			/* nothing above U+10FFFF */
		}
		else
			return false;

		if (static_cast<size_t>(end - s) <= more)
			return false;
		if (s[1] < lo || s[1] > hi)
			return false;
		for (size_t i = 2; i <= more; i++)
		{
			if ((s[i] & 0xC0) != 0x80)
				return false;
		}
		s += more + 1;
	}
	return true;
}

}							/* namespace mmr::core */
