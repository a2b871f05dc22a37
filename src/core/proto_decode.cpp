/*
 * proto_decode.cpp
 *	  The mmr protocol decoder (docs/protocol.md, "Decoder rules").
 *
 *	  The input is untrusted: every read is bounds-checked by ByteReader,
 *	  every count is checked against the bytes left before an array is sized
 *	  for it, and anything the protocol does not allow is MMR_ERR_MALFORMED.
 *	  Decoded byte strings point into the input; the value, column and relid
 *	  arrays are vectors owned by the Decoder and reused, so decoding a stream
 *	  allocates only until the arrays have grown to the stream's widest row.
 */
#include <cstring>
#include <string_view>
#include <vector>

#include "byte_reader.hpp"
#include "error.hpp"
#include "mmr_core.h"
#include "proto.hpp"

#include "core_only.hpp"

namespace mmr::core
{

namespace
{

/* Smallest encodings of repeated items, for the count checks. */
constexpr size_t kMinValueSize = 1;				/* kind only: 'n' or 'u' */
constexpr size_t kMinColumnSize = 1 + 4 + 4 + 4 + 4;	/* empty name and type */
constexpr size_t kRelidSize = 4;

/* A str that must not contain NUL: names, type names, origin, prefix, text values. */
MmrBytes
read_nul_free_str(ByteReader &in, std::string_view field)
{
	MmrBytes	b = in.str(field);

	if (has_nul(b.data, b.len))
		fail(MMR_ERR_MALFORMED, FMT_STRING("NUL byte in {}{}"), field, in.where());
	return b;
}

MmrBytes
read_nonempty_name(ByteReader &in, std::string_view field)
{
	MmrBytes	b = read_nul_free_str(in, field);

	if (b.len == 0)
		fail(MMR_ERR_MALFORMED, FMT_STRING("{} is empty"), field);
	return b;
}

MmrTuple
read_tuple(ByteReader &in, std::vector<MmrValue> &values, std::string_view where)
{
	in.set_where(where);

	uint16_t	natts = in.u16("natts");

	in.need_items(natts, kMinValueSize, "values");
	values.resize(natts);		/* no allocation once the vector is wide enough */

	for (MmrValue &value : values)
	{
		value.kind = in.u8("value kind");
		switch (value.kind)
		{
			case MMR_VALUE_NULL:
			case MMR_VALUE_UNCHANGED:
				value.data = MmrBytes{nullptr, 0};
				break;
			case MMR_VALUE_TEXT:
				value.data = read_nul_free_str(in, "text value");
				break;
			case MMR_VALUE_BINARY:
				value.data = in.str("binary value");
				break;
			default:
				fail(MMR_ERR_MALFORMED,
					 FMT_STRING("unknown value kind 0x{:02x}{}"), value.kind, where);
		}
	}
	in.set_where({});
	return MmrTuple{natts, values.data()};
}

void
read_begin(ByteReader &in, MmrBegin &m)
{
	m.final_lsn = in.u64("final_lsn");
	m.commit_time = in.i64("commit_time");
	m.xid = in.u32("xid");
	m.origin = read_nul_free_str(in, "origin");
}

void
read_commit(ByteReader &in, MmrCommit &m)
{
	m.flags = in.u8("flags");
	if (m.flags != 0)
		fail(MMR_ERR_MALFORMED, FMT_STRING("commit flags must be 0, not 0x{:02x}"), m.flags);
	m.commit_lsn = in.u64("commit_lsn");
	m.end_lsn = in.u64("end_lsn");
	m.commit_time = in.i64("commit_time");
}

void
read_relation(ByteReader &in, MmrRelation &m, std::vector<MmrColumn> &columns)
{
	m.relid = in.u32("relid");
	m.nspname = read_nonempty_name(in, "schema name");
	m.relname = read_nonempty_name(in, "table name");
	m.replica_identity = in.u8("replica identity");
	if (!is_replica_identity(m.replica_identity))
		fail(MMR_ERR_MALFORMED,
			 FMT_STRING("invalid replica identity 0x{:02x}"), m.replica_identity);
	m.ncolumns = in.u16("ncolumns");

	in.need_items(m.ncolumns, kMinColumnSize, "columns");
	columns.resize(m.ncolumns);

	in.set_where(" in column list");
	for (MmrColumn &col : columns)
	{
		col.flags = in.u8("column flags");
		col.name = read_nul_free_str(in, "column name");
		col.type_oid = in.u32("type_oid");
		col.typmod = in.i32("typmod");
		col.type_name = read_nul_free_str(in, "type name");
	}
	in.set_where({});
	m.columns = columns.data();
}

void
read_truncate(ByteReader &in, MmrTruncate &m, std::vector<uint32_t> &relids)
{
	m.flags = in.u8("flags");
	m.nrelids = in.u32("nrelids");

	in.need_items(m.nrelids, kRelidSize, "relids");
	relids.resize(m.nrelids);

	for (uint32_t &relid : relids)
		relid = in.u32("relid");
	m.relids = relids.data();
}

void
read_message(ByteReader &in, MmrLogicalMessage &m)
{
	m.flags = in.u8("flags");
	m.prefix = read_nul_free_str(in, "prefix");
	m.content = in.str("content");
}

/*
 * Changes share one layout: relid, then the old tuple (marked 'K' or 'O')
 * where the kind allows or requires it, then the new tuple (marked 'N')
 * except for DELETE.
 */
void
read_change(ByteReader &in, uint8_t kind, MmrChange &m,
			std::vector<MmrValue> &old_values, std::vector<MmrValue> &new_values)
{
	m.relid = in.u32("relid");
	m.old_kind = MMR_OLD_NONE;
	m.old_tuple = MmrTuple{0, nullptr};
	m.new_tuple = MmrTuple{0, nullptr};

	uint8_t		marker = in.u8("tuple marker");
	std::string_view expected = "'N'";

	if (kind != MMR_MSG_INSERT)
	{
		if (marker == MMR_OLD_KEY || marker == MMR_OLD_FULL)
		{
			m.old_kind = marker;
			m.old_tuple = read_tuple(in, old_values, " in old tuple");
			if (kind == MMR_MSG_DELETE)
				return;
			marker = in.u8("tuple marker");
		}
		else
			expected = kind == MMR_MSG_DELETE ? "'K' or 'O'" : "'K', 'O' or 'N'";
	}

	if (marker != 'N' || kind == MMR_MSG_DELETE)
		fail(MMR_ERR_MALFORMED,
			 FMT_STRING("{} message has tuple marker 0x{:02x}, expected {}"),
			 message_kind_name(kind), marker, expected);
	m.new_tuple = read_tuple(in, new_values, " in new tuple");
}

}							/* namespace */

size_t
Decoder::decode_first(uint32_t version, const char *data, size_t len, MmrMessage &out)
{
	check_version(version);

	ByteReader	in(data, len);

	out = MmrMessage{};
	out.kind = in.u8("message kind");
	switch (out.kind)
	{
		case MMR_MSG_BEGIN:
			read_begin(in, out.u.begin);
			break;
		case MMR_MSG_COMMIT:
			read_commit(in, out.u.commit);
			break;
		case MMR_MSG_RELATION:
			read_relation(in, out.u.relation, columns_);
			break;
		case MMR_MSG_INSERT:
		case MMR_MSG_UPDATE:
		case MMR_MSG_DELETE:
			read_change(in, out.kind, out.u.change, old_values_, new_values_);
			break;
		case MMR_MSG_TRUNCATE:
			read_truncate(in, out.u.truncate, relids_);
			break;
		case MMR_MSG_MESSAGE:
			read_message(in, out.u.message);
			break;
		default:
			fail(MMR_ERR_MALFORMED, FMT_STRING("unknown message kind 0x{:02x}"), out.kind);
	}
	return len - in.left();
}

void
Decoder::decode(uint32_t version, const char *data, size_t len, MmrMessage &out)
{
	size_t		used = decode_first(version, data, len, out);
	size_t		left = len - used;

	if (left != 0)
		fail(MMR_ERR_MALFORMED, FMT_STRING("{} trailing byte{} after {} message"),
			 left, left == 1 ? "" : "s", message_kind_name(out.kind));
}

}							/* namespace mmr::core */
