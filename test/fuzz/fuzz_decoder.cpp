/*
 * fuzz_decoder.cpp
 *	  libFuzzer target for the protocol decoder, built with ASan and UBSan
 *	  (see MMR_BUILD_FUZZ in CMakeLists.txt).
 *
 *	  Any input must be either rejected as MMR_ERR_MALFORMED with a message,
 *	  or decoded into a message that (1) re-encodes to exactly the input
 *	  bytes, the encoding being canonical, (2) renders as valid JSON that
 *	  jsonb_in would accept, and (3) renders the same after a second trip
 *	  through the wire.  Any other outcome aborts, and so does any
 *	  out-of-bounds access or undefined behaviour the sanitizers see.
 *
 *	  The same input is also decoded as the content of an "mmr.horizon"
 *	  message and of an "mmr.ddl" message: rejected as malformed, or
 *	  re-encoded to exactly the input.
 *
 *	  build/fuzz/mmr_fuzz_decoder build/fuzz/corpus -max_total_time=60
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mmr_core.h"

namespace
{

[[noreturn]] void
die(const char *what, const MmrError *err = nullptr)
{
	std::fprintf(stderr, "mmr_fuzz_decoder: %s%s%s\n", what,
				 err ? ": " : "", err ? err->message : "");
	std::abort();
}

/*
 * A strict JSON checker (RFC 8259), written independently of the renderer:
 * UTF-8 is validated here by decoding code points, and \u0000 is refused
 * because PostgreSQL's jsonb cannot store it.
 */
class JsonChecker
{
public:
	explicit JsonChecker(const std::string &text)
		: p_(reinterpret_cast<const unsigned char *>(text.data())), end_(p_ + text.size())
	{
	}

	bool valid()
	{
		return value(0) && (skip_space(), p_ == end_);
	}

private:
	void skip_space()
	{
		while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
			p_++;
	}

	bool eat(char c)
	{
		skip_space();
		if (p_ < end_ && *p_ == static_cast<unsigned char>(c))
		{
			p_++;
			return true;
		}
		return false;
	}

	bool literal(const char *word)
	{
		size_t		n = std::strlen(word);

		if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0)
			return false;
		p_ += n;
		return true;
	}

	bool value(int depth)
	{
		if (depth > 64)
			return false;
		skip_space();
		if (p_ == end_)
			return false;
		switch (*p_)
		{
			case '{':
				p_++;
				if (eat('}'))
					return true;
				do
				{
					skip_space();
					if (!string() || !eat(':') || !value(depth + 1))
						return false;
				} while (eat(','));
				return eat('}');
			case '[':
				p_++;
				if (eat(']'))
					return true;
				do
				{
					if (!value(depth + 1))
						return false;
				} while (eat(','));
				return eat(']');
			case '"':
				return string();
			case 't':
				return literal("true");
			case 'f':
				return literal("false");
			case 'n':
				return literal("null");
			default:
				return number();
		}
	}

	bool digits()
	{
		const unsigned char *start = p_;

		while (p_ < end_ && *p_ >= '0' && *p_ <= '9')
			p_++;
		return p_ != start;
	}

	bool number()
	{
		if (p_ < end_ && *p_ == '-')
			p_++;
		if (p_ < end_ && *p_ == '0')
			p_++;
		else if (!digits())
			return false;
		if (p_ < end_ && *p_ == '.')
		{
			p_++;
			if (!digits())
				return false;
		}
		if (p_ < end_ && (*p_ == 'e' || *p_ == 'E'))
		{
			p_++;
			if (p_ < end_ && (*p_ == '+' || *p_ == '-'))
				p_++;
			if (!digits())
				return false;
		}
		return true;
	}

	static int hex(unsigned char c)
	{
		if (c >= '0' && c <= '9')
			return c - '0';
		if (c >= 'a' && c <= 'f')
			return c - 'a' + 10;
		if (c >= 'A' && c <= 'F')
			return c - 'A' + 10;
		return -1;
	}

	/* One UTF-8 sequence starting at p_, checked by decoding it. */
	bool utf8_sequence()
	{
		unsigned char c = *p_;
		int			more;
		uint32_t	cp;

		if (c >= 0xC0 && c < 0xE0)
		{
			more = 1;
			cp = c & 0x1F;
		}
		else if (c >= 0xE0 && c < 0xF0)
		{
			more = 2;
			cp = c & 0x0F;
		}
		else if (c >= 0xF0 && c < 0xF8)
		{
			more = 3;
			cp = c & 0x07;
		}
		else
			return false;
		if (end_ - p_ <= more)
			return false;
		for (int i = 1; i <= more; i++)
		{
			if ((p_[i] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p_[i] & 0x3F);
		}
		static const uint32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};

		if (cp < min_for_length[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p_ += more + 1;
		return true;
	}

	bool string()
	{
		if (p_ == end_ || *p_ != '"')
			return false;
		p_++;
		while (p_ < end_)
		{
			unsigned char c = *p_;

			if (c == '"')
			{
				p_++;
				return true;
			}
			if (c < 0x20)
				return false;
			if (c == '\\')
			{
				if (end_ - p_ < 2)
					return false;
				unsigned char e = p_[1];

				if (e == 'u')
				{
					if (end_ - p_ < 6)
						return false;
					int			v = 0;

					for (int i = 2; i < 6; i++)
					{
						int			h = hex(p_[i]);

						if (h < 0)
							return false;
						v = v << 4 | h;
					}
					if (v == 0)
						return false;
					p_ += 6;
				}
				else if (std::strchr("\"\\/bfnrt", e) != nullptr && e != '\0')
					p_ += 2;
				else
					return false;
			}
			else if (c < 0x80)
				p_++;
			else if (!utf8_sequence())
				return false;
		}
		return false;
	}

	const unsigned char *p_;
	const unsigned char *end_;
};

std::string
render(const MmrMessage &msg)
{
	MmrError	err{};
	size_t		needed = mmr_message_to_json(&msg, nullptr, 0, &err);

	if (needed == 0)
		die("rendering a decoded message failed", &err);

	std::string json(needed, '\0');

	if (mmr_message_to_json(&msg, json.data(), needed / 2, &err) != needed)
		die("json size changed with a small buffer");
	if (mmr_message_to_json(&msg, json.data(), json.size(), &err) != needed)
		die("json size changed with an exact buffer");
	return json;
}

MmrDecoder *
make_decoder()
{
	MmrError	err{};
	MmrDecoder *decoder = mmr_decoder_create(&err);

	if (decoder == nullptr)
		die("mmr_decoder_create failed", &err);
	return decoder;
}

/*
 * check_batch reads the input as a batch of messages: each one taken off
 * the front must re-encode to exactly the bytes it was read from, and the
 * first failure must be a clean rejection.  Returns the number decoded.
 */
size_t
check_batch(MmrDecoder *decoder, const char *input, size_t size)
{
	size_t		pos = 0;
	size_t		count = 0;

	while (pos < size)
	{
		MmrMessage	msg;
		MmrError	err{};
		size_t		consumed = 0;
		MmrStatus	status = mmr_decoder_decode_first(decoder, 1, input + pos, size - pos,
													  &msg, &consumed, &err);

		if (status != MMR_OK)
		{
			if (status != MMR_ERR_MALFORMED)
				die("a batch gave a status other than malformed", &err);
			break;
		}
		if (consumed == 0 || consumed > size - pos)
			die("impossible consumed length");

		std::vector<char> wire(consumed);

		if (mmr_proto_encode(1, &msg, wire.data(), wire.size(), &err) != consumed ||
			std::memcmp(wire.data(), input + pos, consumed) != 0)
			die("a batch member re-encodes differently");
		pos += consumed;
		count++;
	}
	return count;
}

/* mmr_horizon_decode: malformed with a message, or canonical. */
void
check_horizon(const char *input, size_t size)
{
	/* A small buffer first: the count is returned whatever the cap. */
	MmrHorizonEntry few[2];
	std::vector<MmrHorizonEntry> all(1023);
	MmrError	err{};
	int32_t		n = mmr_horizon_decode(input, size, few, 2, &err);

	if (n < 0)
	{
		if (err.status != MMR_ERR_MALFORMED || err.message[0] == '\0')
			die("horizon rejection without malformed status and message", &err);
		return;
	}
	if (mmr_horizon_decode(input, size, all.data(), static_cast<uint32_t>(all.size()), &err) != n ||
		n > static_cast<int32_t>(all.size()))
		die("horizon count depends on the output buffer", &err);

	std::vector<char> wire(size);

	if (mmr_horizon_encode(all.data(), static_cast<uint32_t>(n), wire.data(), wire.size(),
						   &err) != size ||
		(size != 0 && std::memcmp(wire.data(), input, size) != 0))
		die("horizon re-encoding differs from the input", &err);
}

/* mmr_ddl_message_decode: malformed with a message, or canonical. */
void
check_ddl(const char *input, size_t size)
{
	MmrDdlMessage msg{};
	MmrError	err{};

	if (mmr_ddl_message_decode(input, size, &msg, &err) != MMR_OK)
	{
		if (err.status != MMR_ERR_MALFORMED || err.message[0] == '\0')
			die("DDL rejection without malformed status and message", &err);
		return;
	}

	std::vector<char> wire(size);

	if (mmr_ddl_message_encode(&msg, nullptr, 0, &err) != size ||
		mmr_ddl_message_encode(&msg, wire.data(), wire.size(), &err) != size ||
		(size != 0 && std::memcmp(wire.data(), input, size) != 0))
		die("DDL re-encoding differs from the input", &err);
}

}							/* namespace */

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Kept across inputs, as in a walsender: exercises array reuse. */
	static MmrDecoder *decoder = make_decoder();
	static MmrDecoder *second = make_decoder();

	const char *input = reinterpret_cast<const char *>(data);
	MmrMessage	msg;
	MmrError	err{};
	size_t		in_batch = check_batch(decoder, input, size);

	check_horizon(input, size);
	check_ddl(input, size);
	MmrStatus	status = mmr_decoder_decode(decoder, 1, input, size, &msg, &err);

	if (status == MMR_OK && in_batch != 1)
		die("a single message is not a batch of one");
	if (status != MMR_OK)
	{
		if (status != MMR_ERR_MALFORMED)
			die("untrusted input gave a status other than malformed", &err);
		if (std::memchr(err.message, '\0', sizeof(err.message)) == nullptr || err.message[0] == '\0')
			die("rejection without a proper message");
		return 0;
	}

	/* encode(decode(x)) == x */
	size_t		needed = mmr_proto_encode(1, &msg, nullptr, 0, &err);

	if (needed == 0)
		die("re-encoding failed", &err);
	if (needed != size)
	{
		std::fprintf(stderr, "mmr_fuzz_decoder: re-encoding needs %zu bytes, input has %zu\n",
					 needed, size);
		std::abort();
	}

	std::vector<char> wire(size);

	if (mmr_proto_encode(1, &msg, wire.data(), wire.size(), &err) != size)
		die("re-encoding failed", &err);
	if (size != 0 && std::memcmp(wire.data(), input, size) != 0)
		die("re-encoding differs from the input");

	std::string json = render(msg);

	if (!JsonChecker(json).valid())
		die(("invalid JSON: " + json).c_str());

	/* the re-encoding decodes (from other memory) to the same rendering */
	MmrMessage	again;

	if (mmr_decoder_decode(second, 1, wire.data(), wire.size(), &again, &err) != MMR_OK)
		die("decoding the re-encoding failed", &err);
	if (render(again) != json)
		die("the re-encoding renders differently");
	return 0;
}
