/*
 * test_messages.hpp
 *	  Shared by the unit tests and the fuzz seed generator: a set of valid
 *	  sample messages covering every kind and value kind, a byte builder for
 *	  hand-made (often malformed) wire input, content comparison of decoded
 *	  messages, and thin wrappers over the C ABI that throw on failure.
 *
 *	  Sample data are string literals or static arrays, so the pointers in
 *	  the samples stay valid for the whole program.
 */
#ifndef MMR_TEST_MESSAGES_HPP
#define MMR_TEST_MESSAGES_HPP

#include <cstdint>
#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mmr_core.h"

namespace mmr_test
{

inline MmrBytes
bytes(std::string_view s)
{
	return MmrBytes{s.data(), static_cast<uint32_t>(s.size())};
}

inline std::string_view
view(MmrBytes b)
{
	return b.len == 0 ? std::string_view() : std::string_view(b.data, b.len);
}

inline MmrValue
null_value()
{
	return MmrValue{MMR_VALUE_NULL, {nullptr, 0}};
}

inline MmrValue
unchanged_value()
{
	return MmrValue{MMR_VALUE_UNCHANGED, {nullptr, 0}};
}

inline MmrValue
text_value(std::string_view s)
{
	return MmrValue{MMR_VALUE_TEXT, bytes(s)};
}

inline MmrValue
binary_value(std::string_view s)
{
	return MmrValue{MMR_VALUE_BINARY, bytes(s)};
}

inline MmrMessage
make_begin(uint64_t final_lsn, int64_t commit_time, uint32_t xid, std::string_view origin)
{
	MmrMessage	m{};

	m.kind = MMR_MSG_BEGIN;
	m.u.begin.final_lsn = final_lsn;
	m.u.begin.commit_time = commit_time;
	m.u.begin.xid = xid;
	m.u.begin.origin = bytes(origin);
	return m;
}

inline MmrMessage
make_commit(uint64_t commit_lsn, uint64_t end_lsn, int64_t commit_time)
{
	MmrMessage	m{};

	m.kind = MMR_MSG_COMMIT;
	m.u.commit.commit_lsn = commit_lsn;
	m.u.commit.end_lsn = end_lsn;
	m.u.commit.commit_time = commit_time;
	return m;
}

inline MmrMessage
make_relation(uint32_t relid, std::string_view nsp, std::string_view rel, uint8_t ident,
			  const std::vector<MmrColumn> &columns)
{
	MmrMessage	m{};

	m.kind = MMR_MSG_RELATION;
	m.u.relation.relid = relid;
	m.u.relation.nspname = bytes(nsp);
	m.u.relation.relname = bytes(rel);
	m.u.relation.replica_identity = ident;
	m.u.relation.ncolumns = static_cast<uint16_t>(columns.size());
	m.u.relation.columns = columns.data();
	return m;
}

inline MmrTuple
tuple(const std::vector<MmrValue> &values)
{
	return MmrTuple{static_cast<uint16_t>(values.size()), values.data()};
}

inline MmrMessage
make_change(uint8_t kind, uint32_t relid, uint8_t old_kind,
			const std::vector<MmrValue> *old_values, const std::vector<MmrValue> *new_values)
{
	MmrMessage	m{};

	m.kind = kind;
	m.u.change.relid = relid;
	m.u.change.old_kind = old_kind;
	if (old_values)
		m.u.change.old_tuple = tuple(*old_values);
	if (new_values)
		m.u.change.new_tuple = tuple(*new_values);
	return m;
}

inline MmrMessage
make_truncate(uint8_t flags, const std::vector<uint32_t> &relids)
{
	MmrMessage	m{};

	m.kind = MMR_MSG_TRUNCATE;
	m.u.truncate.flags = flags;
	m.u.truncate.nrelids = static_cast<uint32_t>(relids.size());
	m.u.truncate.relids = relids.data();
	return m;
}

inline MmrMessage
make_message(uint8_t flags, std::string_view prefix, std::string_view content)
{
	MmrMessage	m{};

	m.kind = MMR_MSG_MESSAGE;
	m.u.message.flags = flags;
	m.u.message.prefix = bytes(prefix);
	m.u.message.content = bytes(content);
	return m;
}

/* The message kind as the decoder's error messages and the JSON "type" name it. */
inline std::string
kind_name(uint8_t kind)
{
	switch (kind)
	{
		case MMR_MSG_BEGIN: return "begin";
		case MMR_MSG_COMMIT: return "commit";
		case MMR_MSG_RELATION: return "relation";
		case MMR_MSG_INSERT: return "insert";
		case MMR_MSG_UPDATE: return "update";
		case MMR_MSG_DELETE: return "delete";
		case MMR_MSG_TRUNCATE: return "truncate";
		case MMR_MSG_MESSAGE: return "message";
	}
	return "unknown";
}

/* Static storage for the arrays the samples point to. */
inline const std::vector<MmrColumn> kSampleColumns = {
	{MMR_COLUMN_KEY, bytes("id"), 23, -1, bytes("integer")},
	{0, bytes("name"), 1043, 68, bytes("character varying(64)")},
	{0, bytes("\xc3\xa9t\xc3\xa9 \"q\""), 3802, -1, bytes("jsonb")},
	{0x80, bytes(""), 0, 0, bytes("")},
};
inline const std::vector<MmrColumn> kNoColumns = {};
inline const std::vector<MmrValue> kAllValueKinds = {
	null_value(), unchanged_value(), text_value("hello"), text_value(""),
	binary_value(std::string_view("\x00\x01\xff", 3)), binary_value(""),
};
inline const std::vector<MmrValue> kKeyValues = {text_value("42")};
inline const std::vector<MmrValue> kOldRow = {text_value("42"), text_value("old"), null_value()};
inline const std::vector<MmrValue> kNewRow = {text_value("42"), unchanged_value(),
											  binary_value("\x7f")};
inline const std::vector<MmrValue> kNoValues = {};
inline const std::vector<uint32_t> kNoRelids = {};
inline const std::vector<uint32_t> kRelids = {16384, 0, 0xFFFFFFFFu};

struct Sample
{
	const char *name;
	MmrMessage	msg;
};

/* Shows a sample by name in test output (gtest would dump its bytes). */
inline void
PrintTo(const Sample &sample, std::ostream *os)
{
	*os << sample.name;
}

/* Valid messages of every kind; names are usable as test and file names. */
inline std::vector<Sample>
sample_messages()
{
	return {
		{"begin_local", make_begin(0x16B3748, 754000000000000, 742, "")},
		{"begin_extremes", make_begin(UINT64_MAX, INT64_MIN, UINT32_MAX, "node_b")},
		{"commit", make_commit(0x100000000, 0x1000000A8, 754000000000001)},
		{"commit_zero", make_commit(0, 0, 0)},
		{"relation", make_relation(16384, "public", "t\xc3\xa4" "ble", 'd', kSampleColumns)},
		{"relation_no_columns", make_relation(1, "s", "t", 'n', kNoColumns)},
		{"relation_full", make_relation(2, "s", "t", 'f', kSampleColumns)},
		{"relation_index", make_relation(3, "s", "t", 'i', kSampleColumns)},
		{"insert_all_kinds", make_change(MMR_MSG_INSERT, 16384, MMR_OLD_NONE, nullptr, &kAllValueKinds)},
		{"insert_empty", make_change(MMR_MSG_INSERT, 1, MMR_OLD_NONE, nullptr, &kNoValues)},
		{"update_new_only", make_change(MMR_MSG_UPDATE, 16384, MMR_OLD_NONE, nullptr, &kNewRow)},
		{"update_key", make_change(MMR_MSG_UPDATE, 16384, MMR_OLD_KEY, &kKeyValues, &kNewRow)},
		{"update_full", make_change(MMR_MSG_UPDATE, 16384, MMR_OLD_FULL, &kOldRow, &kAllValueKinds)},
		{"delete_key", make_change(MMR_MSG_DELETE, 16384, MMR_OLD_KEY, &kKeyValues, nullptr)},
		{"delete_full", make_change(MMR_MSG_DELETE, 16384, MMR_OLD_FULL, &kOldRow, nullptr)},
		{"delete_empty_key", make_change(MMR_MSG_DELETE, 5, MMR_OLD_KEY, &kNoValues, nullptr)},
		{"truncate", make_truncate(MMR_TRUNCATE_CASCADE | MMR_TRUNCATE_RESTART_IDENTITY, kRelids)},
		{"truncate_none", make_truncate(0, kNoRelids)},
		{"message_text", make_message(MMR_MESSAGE_TRANSACTIONAL, "mmr_ddl", "CREATE TABLE t (a int)")},
		{"message_binary", make_message(0, "", std::string_view("\x00\xfe\x01", 3))},
	};
}

/* Builds wire bytes by hand, big-endian like the protocol. */
class WireBuilder
{
public:
	WireBuilder &u8(uint8_t v)
	{
		data_.push_back(static_cast<char>(v));
		return *this;
	}
	WireBuilder &u16(uint16_t v) { return u8(v >> 8).u8(v & 0xFF); }
	WireBuilder &u32(uint32_t v) { return u16(v >> 16).u16(v & 0xFFFF); }
	WireBuilder &u64(uint64_t v) { return u32(v >> 32).u32(v & 0xFFFFFFFF); }
	WireBuilder &raw(std::string_view s)
	{
		data_.append(s.data(), s.size());
		return *this;
	}
	WireBuilder &str(std::string_view s) { return u32(static_cast<uint32_t>(s.size())).raw(s); }

	const std::string &data() const { return data_; }

private:
	std::string data_;
};

inline std::string
status_text(MmrStatus status, const MmrError &err)
{
	return std::to_string(static_cast<int>(status)) + " (" + err.message + ")";
}

/* Encodes msg or throws; sizing first, then writing into an exact buffer. */
inline std::string
encode(const MmrMessage &msg, uint32_t version = 1)
{
	MmrError	err{};
	size_t		needed = mmr_proto_encode(version, &msg, nullptr, 0, &err);

	if (needed == 0)
		throw std::runtime_error("encode failed: " + status_text(err.status, err));
	std::string out(needed, '\0');

	if (mmr_proto_encode(version, &msg, out.data(), out.size(), &err) != needed)
		throw std::runtime_error("encode size changed");
	return out;
}

/* Renders msg as JSON or throws. */
inline std::string
to_json(const MmrMessage &msg)
{
	MmrError	err{};
	size_t		needed = mmr_message_to_json(&msg, nullptr, 0, &err);

	if (needed == 0)
		throw std::runtime_error("json failed: " + status_text(err.status, err));
	std::string out(needed, '\0');

	if (mmr_message_to_json(&msg, out.data(), out.size(), &err) != needed)
		throw std::runtime_error("json size changed");
	return out;
}

/* RAII owner of an MmrDecoder. */
class Decoder
{
public:
	Decoder()
	{
		MmrError	err{};

		decoder_ = mmr_decoder_create(&err);
		if (decoder_ == nullptr)
			throw std::runtime_error("decoder_create failed");
	}
	~Decoder() { mmr_decoder_destroy(decoder_); }
	Decoder(const Decoder &) = delete;
	Decoder &operator=(const Decoder &) = delete;

	MmrStatus decode(std::string_view data, MmrMessage &out, MmrError &err, uint32_t version = 1)
	{
		return mmr_decoder_decode(decoder_, version, data.data(), data.size(), &out, &err);
	}

	/* Decodes or throws. */
	MmrMessage decode(std::string_view data)
	{
		MmrMessage	out{};
		MmrError	err{};
		MmrStatus	status = decode(data, out, err);

		if (status != MMR_OK)
			throw std::runtime_error("decode failed: " + status_text(status, err));
		return out;
	}

	MmrDecoder *get() { return decoder_; }

private:
	MmrDecoder *decoder_;
};

/* Content comparison; returns "" when equal, else the first difference. */
inline std::string
diff_bytes(MmrBytes a, MmrBytes b, const std::string &what)
{
	if (view(a) != view(b))
		return what + " differs";
	return {};
}

inline std::string
diff_tuple(const MmrTuple &a, const MmrTuple &b, const std::string &what)
{
	if (a.natts != b.natts)
		return what + ".natts differs";
	for (uint16_t i = 0; i < a.natts; i++)
	{
		std::string where = what + "[" + std::to_string(i) + "]";

		if (a.values[i].kind != b.values[i].kind)
			return where + ".kind differs";
		if (a.values[i].kind == MMR_VALUE_TEXT || a.values[i].kind == MMR_VALUE_BINARY)
		{
			std::string d = diff_bytes(a.values[i].data, b.values[i].data, where + ".data");

			if (!d.empty())
				return d;
		}
	}
	return {};
}

inline std::string
diff_messages(const MmrMessage &a, const MmrMessage &b)
{
	std::string d;

	if (a.kind != b.kind)
		return "kind differs";
	switch (a.kind)
	{
		case MMR_MSG_BEGIN:
			if (a.u.begin.final_lsn != b.u.begin.final_lsn)
				return "final_lsn differs";
			if (a.u.begin.commit_time != b.u.begin.commit_time)
				return "commit_time differs";
			if (a.u.begin.xid != b.u.begin.xid)
				return "xid differs";
			return diff_bytes(a.u.begin.origin, b.u.begin.origin, "origin");
		case MMR_MSG_COMMIT:
			if (a.u.commit.flags != b.u.commit.flags)
				return "flags differs";
			if (a.u.commit.commit_lsn != b.u.commit.commit_lsn)
				return "commit_lsn differs";
			if (a.u.commit.end_lsn != b.u.commit.end_lsn)
				return "end_lsn differs";
			if (a.u.commit.commit_time != b.u.commit.commit_time)
				return "commit_time differs";
			return {};
		case MMR_MSG_RELATION:
			{
				const MmrRelation &x = a.u.relation;
				const MmrRelation &y = b.u.relation;

				if (x.relid != y.relid)
					return "relid differs";
				if (!(d = diff_bytes(x.nspname, y.nspname, "nspname")).empty())
					return d;
				if (!(d = diff_bytes(x.relname, y.relname, "relname")).empty())
					return d;
				if (x.replica_identity != y.replica_identity)
					return "replica_identity differs";
				if (x.ncolumns != y.ncolumns)
					return "ncolumns differs";
				for (uint16_t i = 0; i < x.ncolumns; i++)
				{
					std::string where = "columns[" + std::to_string(i) + "]";

					if (x.columns[i].flags != y.columns[i].flags)
						return where + ".flags differs";
					if (x.columns[i].type_oid != y.columns[i].type_oid)
						return where + ".type_oid differs";
					if (x.columns[i].typmod != y.columns[i].typmod)
						return where + ".typmod differs";
					if (!(d = diff_bytes(x.columns[i].name, y.columns[i].name, where + ".name")).empty())
						return d;
					if (!(d = diff_bytes(x.columns[i].type_name, y.columns[i].type_name,
										 where + ".type_name")).empty())
						return d;
				}
				return {};
			}
		case MMR_MSG_INSERT:
		case MMR_MSG_UPDATE:
		case MMR_MSG_DELETE:
			{
				const MmrChange &x = a.u.change;
				const MmrChange &y = b.u.change;

				if (x.relid != y.relid)
					return "relid differs";
				if (x.old_kind != y.old_kind)
					return "old_kind differs";
				if (x.old_kind != MMR_OLD_NONE &&
					!(d = diff_tuple(x.old_tuple, y.old_tuple, "old")).empty())
					return d;
				if (a.kind != MMR_MSG_DELETE)
					return diff_tuple(x.new_tuple, y.new_tuple, "new");
				if (y.new_tuple.natts != 0)
					return "delete has a new tuple";
				return {};
			}
		case MMR_MSG_TRUNCATE:
			if (a.u.truncate.flags != b.u.truncate.flags)
				return "flags differs";
			if (a.u.truncate.nrelids != b.u.truncate.nrelids)
				return "nrelids differs";
			for (uint32_t i = 0; i < a.u.truncate.nrelids; i++)
				if (a.u.truncate.relids[i] != b.u.truncate.relids[i])
					return "relids[" + std::to_string(i) + "] differs";
			return {};
		case MMR_MSG_MESSAGE:
			if (a.u.message.flags != b.u.message.flags)
				return "flags differs";
			if (!(d = diff_bytes(a.u.message.prefix, b.u.message.prefix, "prefix")).empty())
				return d;
			return diff_bytes(a.u.message.content, b.u.message.content, "content");
	}
	return "unknown kind";
}

}							/* namespace mmr_test */

#endif							/* MMR_TEST_MESSAGES_HPP */
