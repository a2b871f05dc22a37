/*-------------------------------------------------------------------------
 *
 * mmr_core.h
 *	  The C ABI of mmr's C++ core: the only header shared by src/pg (C, the
 *	  PostgreSQL side) and src/core (C++17, no PostgreSQL headers).
 *
 * NOTES
 *	  Every function here is noexcept: the core catches every exception and
 *	  reports it through an MmrError, which the glue turns into ereport().
 *	  No PostgreSQL error (longjmp) may ever pass through core frames, and no
 *	  C++ exception through PostgreSQL frames.
 *
 *	  Memory: the core never returns memory the caller must free with pfree,
 *	  and never frees caller memory.  Output goes into caller buffers (the
 *	  "size convention" below) or lives in an opaque handle that the caller
 *	  destroys with the matching _destroy function.
 *
 *	  Size convention: functions that write into (buf, cap) return the number
 *	  of bytes the complete output needs.  When that is larger than cap the
 *	  buffer content is unspecified and the caller enlarges it and calls
 *	  again.  A return of 0 means failure, with err filled in.
 *
 *	  Byte strings (MmrBytes) are not NUL-terminated.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_CORE_H
#define MMR_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define MMR_NOEXCEPT noexcept
extern "C"
{
#else
#define MMR_NOEXCEPT
#endif

/* Protocol versions this build can speak (negotiated by startup option). */
#define MMR_PROTO_VERSION_MIN 1
#define MMR_PROTO_VERSION_MAX 1

typedef enum MmrStatus
{
	MMR_OK = 0,
	MMR_ERR_MALFORMED,			/* input is not a valid message */
	MMR_ERR_VERSION,			/* protocol version not supported */
	MMR_ERR_INVALID_ARGUMENT,	/* caller passed an impossible value */
	MMR_ERR_NO_MEMORY,
	MMR_ERR_INTERNAL
} MmrStatus;

#define MMR_ERROR_MESSAGE_SIZE 256

typedef struct MmrError
{
	MmrStatus	status;
	char		message[MMR_ERROR_MESSAGE_SIZE];	/* NUL-terminated, lower case,
												 * no trailing period */
} MmrError;

typedef struct MmrBytes
{
	const char *data;
	uint32_t	len;
} MmrBytes;

/* Message kinds; the value is the kind byte on the wire. */
typedef enum MmrMessageKind
{
	MMR_MSG_BEGIN = 'B',
	MMR_MSG_COMMIT = 'C',
	MMR_MSG_RELATION = 'R',
	MMR_MSG_INSERT = 'I',
	MMR_MSG_UPDATE = 'U',
	MMR_MSG_DELETE = 'D',
	MMR_MSG_TRUNCATE = 'T',
	MMR_MSG_MESSAGE = 'M'
} MmrMessageKind;

/* How one column value travels; the value is the kind byte on the wire. */
typedef enum MmrValueKind
{
	MMR_VALUE_NULL = 'n',
	MMR_VALUE_UNCHANGED = 'u',	/* unchanged TOASTed value, not sent */
	MMR_VALUE_TEXT = 't',		/* type output function result */
	MMR_VALUE_BINARY = 'b'		/* type send function result */
} MmrValueKind;

typedef struct MmrValue
{
	uint8_t		kind;			/* MmrValueKind */
	MmrBytes	data;			/* for TEXT and BINARY only */
} MmrValue;

typedef struct MmrTuple
{
	uint16_t	natts;
	const MmrValue *values;
} MmrTuple;

#define MMR_COLUMN_KEY 0x01		/* part of the replica identity */

typedef struct MmrColumn
{
	uint8_t		flags;			/* MMR_COLUMN_* */
	MmrBytes	name;
	uint32_t	type_oid;
	int32_t		typmod;
	MmrBytes	type_name;		/* format_type_be() of the type */
} MmrColumn;

typedef struct MmrBegin
{
	uint64_t	final_lsn;		/* LSN of the commit record */
	int64_t		commit_time;	/* microseconds since 2000-01-01 UTC */
	uint32_t	xid;
	MmrBytes	origin;			/* replication origin name; empty = local */
} MmrBegin;

typedef struct MmrCommit
{
	uint8_t		flags;			/* must be 0 in version 1 */
	uint64_t	commit_lsn;
	uint64_t	end_lsn;
	int64_t		commit_time;
} MmrCommit;

/* replica_identity is pg_class.relreplident: 'd', 'n', 'f' or 'i' */
typedef struct MmrRelation
{
	uint32_t	relid;			/* sender's oid, the key of later changes */
	MmrBytes	nspname;
	MmrBytes	relname;
	uint8_t		replica_identity;
	uint16_t	ncolumns;
	const MmrColumn *columns;
} MmrRelation;

/* old_kind values */
#define MMR_OLD_NONE 0
#define MMR_OLD_KEY 'K'			/* old tuple holds the key columns */
#define MMR_OLD_FULL 'O'		/* old tuple is the whole old row */

/* INSERT (new only), UPDATE (optional old, new), DELETE (old only) */
typedef struct MmrChange
{
	uint32_t	relid;
	uint8_t		old_kind;		/* MMR_OLD_*; NONE for INSERT */
	MmrTuple	old_tuple;
	MmrTuple	new_tuple;		/* natts 0 for DELETE */
} MmrChange;

#define MMR_TRUNCATE_CASCADE 0x01
#define MMR_TRUNCATE_RESTART_IDENTITY 0x02

typedef struct MmrTruncate
{
	uint8_t		flags;			/* MMR_TRUNCATE_* */
	uint32_t	nrelids;
	const uint32_t *relids;
} MmrTruncate;

#define MMR_MESSAGE_TRANSACTIONAL 0x01

typedef struct MmrLogicalMessage
{
	uint8_t		flags;			/* MMR_MESSAGE_* */
	MmrBytes	prefix;
	MmrBytes	content;
} MmrLogicalMessage;

typedef struct MmrMessage
{
	uint8_t		kind;			/* MmrMessageKind */
	union
	{
		MmrBegin	begin;
		MmrCommit	commit;
		MmrRelation relation;
		MmrChange	change;		/* INSERT, UPDATE, DELETE */
		MmrTruncate truncate;
		MmrLogicalMessage message;
	}			u;
} MmrMessage;

/*
 * Encodes one message in protocol `version` into (buf, cap), following the
 * size convention.  Rejects (returns 0) structurally impossible messages,
 * e.g. an unknown kind or a DELETE without an old tuple.
 */
size_t		mmr_proto_encode(uint32_t version, const MmrMessage *msg,
							 char *buf, size_t cap, MmrError *err) MMR_NOEXCEPT;

/*
 * Decoder: treats its input as untrusted.  Every malformed input (truncated,
 * wrong lengths, trailing bytes, unknown kinds, NUL bytes inside names,
 * prefixes or text values) yields MMR_ERR_MALFORMED, never an out-of-bounds
 * read.  Decoded pointers refer into `data` and into arrays owned by the
 * decoder; they stay valid until the next decode call or destroy.
 */
typedef struct MmrDecoder MmrDecoder;

MmrDecoder *mmr_decoder_create(MmrError *err) MMR_NOEXCEPT;
void		mmr_decoder_destroy(MmrDecoder *decoder) MMR_NOEXCEPT;
MmrStatus	mmr_decoder_decode(MmrDecoder *decoder, uint32_t version,
							   const char *data, size_t len,
							   MmrMessage *out, MmrError *err) MMR_NOEXCEPT;

/*
 * Decodes the first message of a batch (a CopyData may carry several whole
 * messages, see docs/protocol.md) and sets *consumed to its length; the
 * bytes after it are left for the next call.  Same rules and lifetimes as
 * mmr_decoder_decode otherwise.
 */
MmrStatus	mmr_decoder_decode_first(MmrDecoder *decoder, uint32_t version,
									 const char *data, size_t len,
									 MmrMessage *out, size_t *consumed,
									 MmrError *err) MMR_NOEXCEPT;

/*
 * Renders a decoded message as one JSON object (UTF-8), following the size
 * convention.  Used by mmr.decode_message() so that tests and DBAs can read
 * the stream.  Shape:
 *   {"type":"begin","xid":N,"final_lsn":"X/X","commit_time":N,"origin":"..."}
 *   {"type":"commit","flags":N,"commit_lsn":"X/X","end_lsn":"X/X","commit_time":N}
 *   {"type":"relation","relid":N,"schema":"..","table":"..","replica_identity":"d",
 *    "columns":[{"name":"..","type":"..","type_oid":N,"typmod":N,"key":true}]}
 *   {"type":"insert","relid":N,"new":[...]}
 *   {"type":"update","relid":N,"old_kind":"key"|"full",  (old only if present)
 *    "old":[...],"new":[...]}
 *   {"type":"delete","relid":N,"old_kind":"key"|"full","old":[...]}
 *   {"type":"truncate","cascade":B,"restart_identity":B,"relids":[N,...]}
 *   {"type":"message","transactional":B,"prefix":"..","content":".."}
 *     (content as a JSON string when it is valid UTF-8 without NUL,
 *      otherwise {"hex":"\\x..."})
 * Values in a tuple: text -> JSON string, NULL -> null,
 *   unchanged TOAST -> {"unchanged":true}, binary -> {"binary":"\\x0a1b"}.
 */
size_t		mmr_message_to_json(const MmrMessage *msg, char *buf, size_t cap,
								MmrError *err) MMR_NOEXCEPT;

/*
 * Copies a libpq connection string (key=value form or postgresql:// URI)
 * with every password replaced by ********, following the size convention.
 * A string that does not parse is replaced whole by ********, so that no
 * secret can leak through a typo.
 */
size_t		mmr_dsn_mask(const char *dsn, size_t len, char *buf, size_t cap,
						 MmrError *err) MMR_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif							/* MMR_CORE_H */
