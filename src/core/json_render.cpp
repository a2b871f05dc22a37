/*
 * json_render.cpp
 *	  Renders a message as one JSON object, for mmr.decode_message(): the
 *	  shape is documented at mmr_message_to_json() in mmr_core.h.
 *
 *	  Output goes straight into the caller's buffer in one pass: JsonOut
 *	  counts every byte and writes only what fits, so one call returns the
 *	  full size even when the buffer is too small (the size convention).
 *	  Every byte string that is not UTF-8 without NUL becomes {"hex":"\\x.."},
 *	  so the output is always valid JSON whatever the bytes.
 */
#include <cstdint>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "error.hpp"
#include "mmr_core.h"
#include "proto.hpp"

#include "core_only.hpp"

namespace mmr::core
{

namespace
{

constexpr char kHexDigits[] = "0123456789abcdef";

class JsonOut
{
public:
	JsonOut(char *buf, size_t cap) noexcept : buf_(buf), cap_(cap) {}

	size_t size() const noexcept { return size_; }

	/* Appends bytes that need no escaping (literals, numbers, hex). */
	void raw(const char *p, size_t n) noexcept
	{
		if (n != 0 && size_ <= cap_ && n <= cap_ - size_)
			std::memcpy(buf_ + size_, p, n);
		size_ += n;
	}

	void raw(std::string_view s) noexcept { raw(s.data(), s.size()); }

	void boolean(bool b) noexcept { raw(b ? std::string_view("true") : std::string_view("false")); }

	template <typename Int>
	void number(Int v) noexcept
	{
		fmt::format_int f(v);

		raw(f.data(), f.size());
	}

	/* PostgreSQL's LSN notation: %X/%X of the high and low halves. */
	void lsn(uint64_t v)
	{
		char		text[32];		/* needs at most 2 + 8 + 1 + 8 */
		auto		result = fmt::format_to_n(text, sizeof(text), FMT_STRING("\"{:X}/{:X}\""),
											  static_cast<uint32_t>(v >> 32),
											  static_cast<uint32_t>(v));

		raw(text, result.size);
	}

	/*
	 * A JSON string when b is UTF-8 without NUL, else {"hex":"\\x.."}.
	 * Valid UTF-8 passes through; only ", \ and control characters are
	 * escaped.
	 */
	void string(MmrBytes b)
	{
		if (!is_utf8_without_nul(b.data, b.len))
		{
			tagged_hex("hex", b);
			return;
		}

		const char *p = b.data;
		const char *end = p + b.len;

		raw("\"");
		while (p < end)
		{
			const char *run = p;

			while (p < end && !needs_escape(static_cast<unsigned char>(*p)))
				p++;
			raw(run, static_cast<size_t>(p - run));
			if (p == end)
				break;

			unsigned char c = static_cast<unsigned char>(*p++);

			if (c == '"')
				raw("\\\"");
			else if (c == '\\')
				raw("\\\\");
			else
			{
				const char	escape[6] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xF]};

				raw(escape, sizeof(escape));
			}
		}
		raw("\"");
	}

	/* {"tag":"\\x0a1b"}: the JSON form of bytea's hex output. */
	void tagged_hex(std::string_view tag, MmrBytes b)
	{
		raw("{\"");
		raw(tag);
		raw("\":\"\\\\x");

		/* Hex-encode in chunks to keep the per-byte cost low. */
		char		chunk[128];
		size_t		used = 0;

		for (uint32_t i = 0; i < b.len; i++)
		{
			unsigned char c = static_cast<unsigned char>(b.data[i]);

			chunk[used++] = kHexDigits[c >> 4];
			chunk[used++] = kHexDigits[c & 0xF];
			if (used == sizeof(chunk))
			{
				raw(chunk, used);
				used = 0;
			}
		}
		raw(chunk, used);
		raw("\"}");
	}

private:
	static bool needs_escape(unsigned char c) noexcept
	{
		return c < 0x20 || c == '"' || c == '\\';
	}

	char	   *buf_;
	size_t		cap_;
	size_t		size_ = 0;
};

void
render_tuple(JsonOut &out, const MmrTuple &tuple)
{
	out.raw("[");
	for (uint16_t i = 0; i < tuple.natts; i++)
	{
		const MmrValue &value = tuple.values[i];

		if (i != 0)
			out.raw(",");
		switch (value.kind)
		{
			case MMR_VALUE_NULL:
				out.raw("null");
				break;
			case MMR_VALUE_UNCHANGED:
				out.raw("{\"unchanged\":true}");
				break;
			case MMR_VALUE_TEXT:
				out.string(value.data);
				break;
			case MMR_VALUE_BINARY:
				out.tagged_hex("binary", value.data);
				break;
			default:
				/* encoded_size() has already rejected it */
				fail(MMR_ERR_INTERNAL,
					 FMT_STRING("unknown value kind 0x{:02x}"), value.kind);
		}
	}
	out.raw("]");
}

void
render_old_tuple(JsonOut &out, const MmrChange &m)
{
	out.raw(m.old_kind == MMR_OLD_KEY ? ",\"old_kind\":\"key\",\"old\":"
				: ",\"old_kind\":\"full\",\"old\":");
	render_tuple(out, m.old_tuple);
}

void
render_relation(JsonOut &out, const MmrRelation &m)
{
	out.raw("{\"type\":\"relation\",\"relid\":");
	out.number(m.relid);
	out.raw(",\"schema\":");
	out.string(m.nspname);
	out.raw(",\"table\":");
	out.string(m.relname);
	out.raw(",\"replica_identity\":");
	out.string(MmrBytes{reinterpret_cast<const char *>(&m.replica_identity), 1});
	out.raw(",\"columns\":[");
	for (uint16_t i = 0; i < m.ncolumns; i++)
	{
		const MmrColumn &col = m.columns[i];

		out.raw(i == 0 ? "{\"name\":" : ",{\"name\":");
		out.string(col.name);
		out.raw(",\"type\":");
		out.string(col.type_name);
		out.raw(",\"type_oid\":");
		out.number(col.type_oid);
		out.raw(",\"typmod\":");
		out.number(col.typmod);
		out.raw(",\"key\":");
		out.boolean((col.flags & MMR_COLUMN_KEY) != 0);
		out.raw("}");
	}
	out.raw("]}");
}

void
render(JsonOut &out, const MmrMessage &msg)
{
	switch (msg.kind)
	{
		case MMR_MSG_BEGIN:
			{
				const MmrBegin &m = msg.u.begin;

				out.raw("{\"type\":\"begin\",\"xid\":");
				out.number(m.xid);
				out.raw(",\"final_lsn\":");
				out.lsn(m.final_lsn);
				out.raw(",\"commit_time\":");
				out.number(m.commit_time);
				out.raw(",\"origin\":");
				out.string(m.origin);
				out.raw("}");
				return;
			}
		case MMR_MSG_COMMIT:
			{
				const MmrCommit &m = msg.u.commit;

				out.raw("{\"type\":\"commit\",\"flags\":");
				out.number(m.flags);
				out.raw(",\"commit_lsn\":");
				out.lsn(m.commit_lsn);
				out.raw(",\"end_lsn\":");
				out.lsn(m.end_lsn);
				out.raw(",\"commit_time\":");
				out.number(m.commit_time);
				out.raw("}");
				return;
			}
		case MMR_MSG_RELATION:
			render_relation(out, msg.u.relation);
			return;
		case MMR_MSG_INSERT:
			out.raw("{\"type\":\"insert\",\"relid\":");
			out.number(msg.u.change.relid);
			out.raw(",\"new\":");
			render_tuple(out, msg.u.change.new_tuple);
			out.raw("}");
			return;
		case MMR_MSG_UPDATE:
			out.raw("{\"type\":\"update\",\"relid\":");
			out.number(msg.u.change.relid);
			if (msg.u.change.old_kind != MMR_OLD_NONE)
				render_old_tuple(out, msg.u.change);
			out.raw(",\"new\":");
			render_tuple(out, msg.u.change.new_tuple);
			out.raw("}");
			return;
		case MMR_MSG_DELETE:
			out.raw("{\"type\":\"delete\",\"relid\":");
			out.number(msg.u.change.relid);
			render_old_tuple(out, msg.u.change);
			out.raw("}");
			return;
		case MMR_MSG_TRUNCATE:
			{
				const MmrTruncate &m = msg.u.truncate;

				out.raw("{\"type\":\"truncate\",\"cascade\":");
				out.boolean((m.flags & MMR_TRUNCATE_CASCADE) != 0);
				out.raw(",\"restart_identity\":");
				out.boolean((m.flags & MMR_TRUNCATE_RESTART_IDENTITY) != 0);
				out.raw(",\"relids\":[");
				for (uint32_t i = 0; i < m.nrelids; i++)
				{
					if (i != 0)
						out.raw(",");
					out.number(m.relids[i]);
				}
				out.raw("]}");
				return;
			}
		case MMR_MSG_MESSAGE:
			{
				const MmrLogicalMessage &m = msg.u.message;

				out.raw("{\"type\":\"message\",\"transactional\":");
				out.boolean((m.flags & MMR_MESSAGE_TRANSACTIONAL) != 0);
				out.raw(",\"prefix\":");
				out.string(m.prefix);
				out.raw(",\"content\":");
				out.string(m.content);
				out.raw("}");
				return;
			}
	}
	/* encoded_size() has already rejected it */
	fail(MMR_ERR_INTERNAL, FMT_STRING("unknown message kind 0x{:02x}"), msg.kind);
}

}							/* namespace */

size_t
render_json(const MmrMessage &msg, char *buf, size_t cap)
{
	/* Render only what could be sent: the encoder's rules validate msg. */
	encoded_size(msg);

	JsonOut		out(buf, cap);

	render(out, msg);
	return out.size();
}

}							/* namespace mmr::core */
