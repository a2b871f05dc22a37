/*
 * proto_encode.cpp
 *	  The mmr protocol encoder (docs/protocol.md, "Encoding").
 *
 *	  Two passes over the message structure, one over the data: encoded_size()
 *	  validates the message and computes its exact size, then, when it fits
 *	  the caller's buffer, the writer stores it there directly.  The encoder
 *	  refuses everything the decoder would refuse, so that a bug on the
 *	  sending side fails there, with a clear error, instead of stalling the
 *	  peer's apply worker on a message it must reject.
 */
#include <cstring>
#include <limits>
#include <string_view>

#include "byte_writer.hpp"
#include "error.hpp"
#include "mmr_core.h"
#include "proto.hpp"

#include "core_only.hpp"

namespace mmr::core
{

namespace
{

/* Fixed parts of each message, kind byte included. */
constexpr size_t kBeginFixed = 1 + 8 + 8 + 4 + 4;
constexpr size_t kCommitSize = 1 + 1 + 8 + 8 + 8;
constexpr size_t kRelationFixed = 1 + 4 + 4 + 4 + 1 + 2;
constexpr size_t kColumnFixed = 1 + 4 + 4 + 4 + 4;
constexpr size_t kChangeFixed = 1 + 4;
constexpr size_t kTruncateFixed = 1 + 1 + 4;
constexpr size_t kMessageFixed = 1 + 1 + 4 + 4;

/* Sums sizes, refusing to wrap around (only reachable with 32-bit size_t). */
class SizeCounter
{
public:
	explicit SizeCounter(size_t initial) noexcept : total_(initial) {}

	void add(size_t n)
	{
		if (n > std::numeric_limits<size_t>::max() - total_)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("message is too large to encode"));
		total_ += n;
	}

	void add_items(size_t count, size_t item_size)
	{
		if (count > (std::numeric_limits<size_t>::max() - total_) / item_size)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("message is too large to encode"));
		total_ += count * item_size;
	}

	size_t total() const noexcept { return total_; }

private:
	size_t		total_;
};

void
check_bytes(const MmrBytes &b, std::string_view what)
{
	if (b.data == nullptr && b.len != 0)
		fail(MMR_ERR_INVALID_ARGUMENT,
			 FMT_STRING("{} has length {} but no data"), what, b.len);
}

/* Names, type names, origins, prefixes and text values never hold NUL. */
void
check_no_nul(const MmrBytes &b, std::string_view what)
{
	check_bytes(b, what);
	if (has_nul(b.data, b.len))
		fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("NUL byte in {}"), what);
}

void
check_nonempty_name(const MmrBytes &b, std::string_view what)
{
	check_no_nul(b, what);
	if (b.len == 0)
		fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("{} is empty"), what);
}

bool
is_old_kind(uint8_t kind) noexcept
{
	return kind == MMR_OLD_KEY || kind == MMR_OLD_FULL;
}

size_t
tuple_size(const MmrTuple &tuple, std::string_view which)
{
	SizeCounter size(2);

	if (tuple.natts != 0 && tuple.values == nullptr)
		fail(MMR_ERR_INVALID_ARGUMENT,
			 FMT_STRING("{} has {} values but no value array"), which, tuple.natts);

	for (uint16_t i = 0; i < tuple.natts; i++)
	{
		const MmrValue &value = tuple.values[i];

		switch (value.kind)
		{
			case MMR_VALUE_NULL:
			case MMR_VALUE_UNCHANGED:
				size.add(1);
				break;
			case MMR_VALUE_TEXT:
				check_no_nul(value.data, "text value");
				size.add(1 + 4 + size_t{value.data.len});
				break;
			case MMR_VALUE_BINARY:
				check_bytes(value.data, "binary value");
				size.add(1 + 4 + size_t{value.data.len});
				break;
			default:
				fail(MMR_ERR_INVALID_ARGUMENT,
					 FMT_STRING("unknown value kind 0x{:02x} in value {} of {}"),
					 value.kind, i + 1, which);
		}
	}
	return size.total();
}

size_t
relation_size(const MmrRelation &rel)
{
	SizeCounter size(kRelationFixed);

	check_nonempty_name(rel.nspname, "schema name");
	check_nonempty_name(rel.relname, "table name");
	if (!is_replica_identity(rel.replica_identity))
		fail(MMR_ERR_INVALID_ARGUMENT,
			 FMT_STRING("invalid replica identity 0x{:02x}"), rel.replica_identity);
	if (rel.ncolumns != 0 && rel.columns == nullptr)
		fail(MMR_ERR_INVALID_ARGUMENT,
			 FMT_STRING("relation has {} columns but no column array"), rel.ncolumns);

	size.add(rel.nspname.len);
	size.add(rel.relname.len);
	for (uint16_t i = 0; i < rel.ncolumns; i++)
	{
		const MmrColumn &col = rel.columns[i];

		check_no_nul(col.name, "column name");
		check_no_nul(col.type_name, "type name");
		size.add(kColumnFixed + size_t{col.name.len} + size_t{col.type_name.len});
	}
	return size.total();
}

size_t
change_size(uint8_t kind, const MmrChange &change)
{
	SizeCounter size(kChangeFixed);

	switch (kind)
	{
		case MMR_MSG_INSERT:
			if (change.old_kind != MMR_OLD_NONE)
				fail(MMR_ERR_INVALID_ARGUMENT,
					 FMT_STRING("insert message must not have an old tuple"));
			break;
		case MMR_MSG_UPDATE:
			if (change.old_kind != MMR_OLD_NONE && !is_old_kind(change.old_kind))
				fail(MMR_ERR_INVALID_ARGUMENT,
					 FMT_STRING("invalid old tuple kind 0x{:02x}"), change.old_kind);
			break;
		case MMR_MSG_DELETE:
			if (!is_old_kind(change.old_kind))
				fail(MMR_ERR_INVALID_ARGUMENT,
					 FMT_STRING("delete message needs an old tuple of kind 'K' or 'O'"));
			if (change.new_tuple.natts != 0)
				fail(MMR_ERR_INVALID_ARGUMENT,
					 FMT_STRING("delete message must not have a new tuple"));
			break;
	}

	if (change.old_kind != MMR_OLD_NONE)
		size.add(1 + tuple_size(change.old_tuple, "old tuple"));
	if (kind != MMR_MSG_DELETE)
		size.add(1 + tuple_size(change.new_tuple, "new tuple"));
	return size.total();
}

void
write_tuple(ByteWriter &out, const MmrTuple &tuple)
{
	out.u16(tuple.natts);
	for (uint16_t i = 0; i < tuple.natts; i++)
	{
		const MmrValue &value = tuple.values[i];

		out.u8(value.kind);
		if (value.kind == MMR_VALUE_TEXT || value.kind == MMR_VALUE_BINARY)
			out.str(value.data);
	}
}

void
write_message(ByteWriter &out, const MmrMessage &msg)
{
	out.u8(msg.kind);
	switch (msg.kind)
	{
		case MMR_MSG_BEGIN:
			{
				const MmrBegin &m = msg.u.begin;

				out.u64(m.final_lsn);
				out.i64(m.commit_time);
				out.u32(m.xid);
				out.str(m.origin);
				break;
			}
		case MMR_MSG_COMMIT:
			{
				const MmrCommit &m = msg.u.commit;

				out.u8(m.flags);
				out.u64(m.commit_lsn);
				out.u64(m.end_lsn);
				out.i64(m.commit_time);
				break;
			}
		case MMR_MSG_RELATION:
			{
				const MmrRelation &m = msg.u.relation;

				out.u32(m.relid);
				out.str(m.nspname);
				out.str(m.relname);
				out.u8(m.replica_identity);
				out.u16(m.ncolumns);
				for (uint16_t i = 0; i < m.ncolumns; i++)
				{
					const MmrColumn &col = m.columns[i];

					out.u8(col.flags);
					out.str(col.name);
					out.u32(col.type_oid);
					out.i32(col.typmod);
					out.str(col.type_name);
				}
				break;
			}
		case MMR_MSG_INSERT:
		case MMR_MSG_UPDATE:
		case MMR_MSG_DELETE:
			{
				const MmrChange &m = msg.u.change;

				out.u32(m.relid);
				if (m.old_kind != MMR_OLD_NONE)
				{
					out.u8(m.old_kind);
					write_tuple(out, m.old_tuple);
				}
				if (msg.kind != MMR_MSG_DELETE)
				{
					out.u8('N');
					write_tuple(out, m.new_tuple);
				}
				break;
			}
		case MMR_MSG_TRUNCATE:
			{
				const MmrTruncate &m = msg.u.truncate;

				out.u8(m.flags);
				out.u32(m.nrelids);
				for (uint32_t i = 0; i < m.nrelids; i++)
					out.u32(m.relids[i]);
				break;
			}
		case MMR_MSG_MESSAGE:
			{
				const MmrLogicalMessage &m = msg.u.message;

				out.u8(m.flags);
				out.str(m.prefix);
				out.str(m.content);
				break;
			}
		default:
			/* encoded_size() has already rejected it */
			fail(MMR_ERR_INTERNAL, FMT_STRING("unknown message kind 0x{:02x}"), msg.kind);
	}
}

}							/* namespace */

size_t
encoded_size(const MmrMessage &msg)
{
	switch (msg.kind)
	{
		case MMR_MSG_BEGIN:
			check_no_nul(msg.u.begin.origin, "origin");
			return kBeginFixed + msg.u.begin.origin.len;

		case MMR_MSG_COMMIT:
			if (msg.u.commit.flags != 0)
				fail(MMR_ERR_INVALID_ARGUMENT,
					 FMT_STRING("commit flags must be 0, not 0x{:02x}"), msg.u.commit.flags);
			return kCommitSize;

		case MMR_MSG_RELATION:
			return relation_size(msg.u.relation);

		case MMR_MSG_INSERT:
		case MMR_MSG_UPDATE:
		case MMR_MSG_DELETE:
			return change_size(msg.kind, msg.u.change);

		case MMR_MSG_TRUNCATE:
			{
				const MmrTruncate &m = msg.u.truncate;
				SizeCounter size(kTruncateFixed);

				if (m.nrelids != 0 && m.relids == nullptr)
					fail(MMR_ERR_INVALID_ARGUMENT,
						 FMT_STRING("truncate message has {} relids but no relid array"),
						 m.nrelids);
				size.add_items(m.nrelids, 4);
				return size.total();
			}

		case MMR_MSG_MESSAGE:
			{
				const MmrLogicalMessage &m = msg.u.message;
				SizeCounter size(kMessageFixed);

				check_no_nul(m.prefix, "message prefix");
				check_bytes(m.content, "message content");
				size.add(m.prefix.len);
				size.add(m.content.len);
				return size.total();
			}
	}
	fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("unknown message kind 0x{:02x}"), msg.kind);
}

size_t
encode_message(uint32_t version, const MmrMessage &msg, char *buf, size_t cap)
{
	check_version(version);

	size_t		needed = encoded_size(msg);

	if (needed > cap)
		return needed;

	ByteWriter	out(buf, needed);

	write_message(out, msg);
	if (out.written() != needed)
		fail(MMR_ERR_INTERNAL,
			 FMT_STRING("encoder wrote {} bytes, computed {}"), out.written(), needed);
	return needed;
}

}							/* namespace mmr::core */
