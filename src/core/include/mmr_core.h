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


/* ------------------------------------------------------------------------
 * Conflicts (src/core/conflict.cpp; the rules are in docs/conflicts.md).
 *
 * The glue gathers facts about the local row (and its tombstone) that a
 * remote change meets, asks mmr_conflict_decide what to do, and carries
 * the decision out.  Every conflict rule lives behind this call: none is
 * written in C.
 *
 * Timestamps are PostgreSQL TimestampTz values (microseconds since
 * 2000-01-01 UTC): the ORIGIN's commit time, as commit_ts records it for
 * applied transactions (replorigin_session_origin_timestamp) and local
 * ones alike.
 * ------------------------------------------------------------------------
 */

/* Node ids are 1..1023; 0 means "not known". */
#define MMR_NODE_UNKNOWN 0

typedef enum MmrChangeKind
{
	MMR_CHANGE_INSERT = 1,
	MMR_CHANGE_UPDATE = 2,
	MMR_CHANGE_DELETE = 3
} MmrChangeKind;

/* SPEC section 5's conflict types; names by mmr_conflict_type_name. */
typedef enum MmrConflictType
{
	MMR_CONFLICT_NONE = 0,		/* not a conflict: nothing is logged */
	MMR_CONFLICT_INSERT_EXISTS,
	MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS,
	MMR_CONFLICT_UPDATE_EXISTS,
	MMR_CONFLICT_UPDATE_MISSING,
	MMR_CONFLICT_UPDATE_DELETED,
	MMR_CONFLICT_DELETE_ORIGIN_DIFFERS,
	MMR_CONFLICT_DELETE_MISSING,
	MMR_CONFLICT_INSERT_DELETED,
	MMR_CONFLICT_NTYPES
} MmrConflictType;

/*
 * Resolvers.  The values of the built-ins are those of the GUC
 * mmr.default_conflict_resolver.  CUSTOM: the table's SQL function decides
 * (only for the types where mmr_conflict_custom_allowed is true; for the
 * others the glue passes the built-in resolver that applies instead).
 */
typedef enum MmrResolverKind
{
	MMR_RESOLVER_LAST_UPDATE_WINS = 0,
	MMR_RESOLVER_FIRST_UPDATE_WINS = 1,
	MMR_RESOLVER_ORIGIN_WINS = 2,
	MMR_RESOLVER_APPLY_REMOTE = 3,
	MMR_RESOLVER_KEEP_LOCAL = 4,
	MMR_RESOLVER_ERROR = 5,
	MMR_RESOLVER_CUSTOM = 6
} MmrResolverKind;

/* The resolution column of mmr.conflict_history. */
typedef enum MmrResolution
{
	MMR_RESOLUTION_NONE = 0,	/* no conflict */
	MMR_RESOLUTION_APPLY_REMOTE,
	MMR_RESOLUTION_KEEP_LOCAL,
	MMR_RESOLUTION_MERGED,
	MMR_RESOLUTION_SKIP,
	MMR_RESOLUTION_ERROR
} MmrResolution;

/* What the glue does with the remote change. */
typedef enum MmrApplyAction
{
	MMR_ACTION_NOTHING = 0,		/* drop the remote change, keep the local state */
	MMR_ACTION_INSERT,			/* insert the remote row (no local row) */
	MMR_ACTION_UPDATE,			/* overwrite the local row with the remote one */
	MMR_ACTION_DELETE,			/* delete the local row */
	MMR_ACTION_DELETE_OTHER,	/* delete the other local row that holds the
								 * unique value, then go on with the change */
	MMR_ACTION_ERROR			/* stop apply from this peer (error resolver) */
} MmrApplyAction;

/* Names as SPEC spells them ("insert_exists", "last_update_wins",
 * "apply_remote"...); NULL for an out-of-range value. */
const char *mmr_conflict_type_name(int type) MMR_NOEXCEPT;
const char *mmr_resolver_name(int resolver) MMR_NOEXCEPT;
const char *mmr_resolution_name(int resolution) MMR_NOEXCEPT;

/* Name to value; -1 for an unknown name.  Exact, case-sensitive match. */
int			mmr_conflict_type_from_name(const char *name) MMR_NOEXCEPT;
int			mmr_resolver_from_name(const char *name) MMR_NOEXCEPT;

/* May a custom SQL resolver decide this conflict type (SPEC 5)? */
int			mmr_conflict_custom_allowed(int type) MMR_NOEXCEPT;

/*
 * One version of a row, or of a delete (a tombstone): who committed it and
 * when.  From pg_xact_commit_timestamp_origin of the row's xmin (of the
 * tombstone row's xmin) for local state, from BEGIN for a remote change.
 */
typedef struct MmrVersion
{
	int32_t		origin_node;	/* node id of the origin; MMR_NODE_UNKNOWN if
								 * the replication origin maps to no node */
	int64_t		commit_time;	/* the origin's commit time */
	uint8_t		time_known;		/* 0: frozen, or committed before
								 * track_commit_timestamp was on: counts as
								 * older than every remote change */
	int32_t		priority;		/* the origin node's priority (origin_wins) */
	MmrBytes	origin_name;	/* the origin node's name (ties) */
} MmrVersion;

/*
 * The sender's applied horizon: for each origin, the commit time of the
 * latest transaction of that origin that the sender had applied when it
 * made the change (carried by "mmr.horizon" logical messages).  A local
 * version of origin O with commit time T was seen by the sender iff O is
 * the sender itself, or the horizon has O with commit_time >= T.  The
 * sender's entry for the receiving node covers rows written locally.
 */
typedef struct MmrHorizonEntry
{
	int32_t		node_id;
	int64_t		commit_time;
} MmrHorizonEntry;

/* The prefix of the transactional logical message that carries it. */
#define MMR_HORIZON_PREFIX "mmr.horizon"

typedef struct MmrConflictFacts
{
	uint8_t		change;			/* MmrChangeKind */
	uint8_t		row_exists;		/* a live local row of the change's key */
	MmrVersion	row;
	uint8_t		tombstone_exists;	/* a delete tombstone of the key
									 * (consulted when no row exists) */
	MmrVersion	tombstone;
	MmrVersion	remote;			/* origin = the sender, its commit time */
	const MmrHorizonEntry *horizon;	/* the sender's, for this change */
	uint32_t	nhorizon;		/* 0: unknown, every version counts as not
								 * seen (concurrent) */
	int32_t		local_node;		/* this node's id */
	uint8_t		resolvers[MMR_CONFLICT_NTYPES];	/* MmrResolverKind for each
												 * conflict type, already
												 * looked up for the table */
} MmrConflictFacts;

typedef struct MmrConflictDecision
{
	uint8_t		conflict;		/* MmrConflictType; NONE: apply, log nothing */
	uint8_t		resolver;		/* the MmrResolverKind that decided */
	uint8_t		resolution;		/* MmrResolution; for call_custom the glue
								 * sets it from the function's result */
	uint8_t		action;			/* MmrApplyAction */
	uint8_t		record_tombstone;	/* store or refresh the key's tombstone
									 * with the remote version (deletes) */
	uint8_t		call_custom;	/* run the custom function; action says what
								 * to do if it returns the remote row */
} MmrConflictDecision;

MmrStatus	mmr_conflict_decide(const MmrConflictFacts *facts,
								MmrConflictDecision *out,
								MmrError *err) MMR_NOEXCEPT;

/*
 * Unique value registers: the rule for unique keys other than the replica
 * identity that converges (docs/conflicts.md, "Unique keys"; SPEC 5's rule,
 * which skips the losing change, does not).
 *
 * For each unique index and non-NULL value a node keeps the version of the
 * latest write known to have held the value: its register (the version of
 * the local row holding the value, when no register is stored).  A remote
 * INSERT or UPDATE claims every non-NULL unique value of its new row,
 * whatever mmr_conflict_decide said about its own key.  facts are the
 * change's (remote, horizon, resolvers); holder is the register, NULL when
 * there is none.  The decision:
 *   - action DELETE_OTHER (claimed): the register becomes the change's
 *     version; the other local row holding the value, if any, is deleted,
 *     with a tombstone of THAT row's own version (record_tombstone);
 *     conflict NONE when the change had seen the holder, otherwise
 *     insert_exists / update_exists with resolution apply_remote;
 *   - action NOTHING (not claimed, resolution keep_local): the change is not
 *     stored; if mmr_conflict_decide had it INSERT or UPDATE its key, the
 *     key's row is deleted instead and a tombstone of the change's version
 *     recorded (the key's latest write lost its value: so it does on the
 *     node that holds the winner);
 *   - action ERROR under the error resolver.
 * A custom resolver decides rows, not who holds a value: last_update_wins
 * decides the claim then.  Registers are collected like tombstones
 * (mmr_tombstone_collectable on the register's version).
 */
MmrStatus	mmr_unique_claim(const MmrConflictFacts *facts,
							 const MmrVersion *holder,
							 MmrConflictDecision *out,
							 MmrError *err) MMR_NOEXCEPT;

/*
 * Horizon message content: u8 version (1), u16 n, n x { u16 node_id,
 * i64 commit_time }, big-endian.  Encode follows the size convention;
 * decode returns the number of entries (<= cap written to out) or -1 with
 * err set when malformed (the input is untrusted).
 */
size_t		mmr_horizon_encode(const MmrHorizonEntry *entries, uint32_t n,
							   char *buf, size_t cap,
							   MmrError *err) MMR_NOEXCEPT;
int32_t		mmr_horizon_decode(const char *data, size_t len,
							   MmrHorizonEntry *out, uint32_t cap,
							   MmrError *err) MMR_NOEXCEPT;

/*
 * Tombstone collection: a peer's latest known horizon (from the last
 * horizon message or heartbeat received from it).
 */
typedef struct MmrPeerHorizon
{
	int32_t		peer_node;
	const MmrHorizonEntry *entries;
	uint32_t	nentries;		/* 0: nothing heard yet */
} MmrPeerHorizon;

/*
 * May this tombstone be removed?  Only once every peer (other than the
 * tombstone's origin) has applied the origin's transactions up to the
 * tombstone's commit time: nothing concurrent with the delete can still
 * arrive.  A tombstone of unknown time (frozen) may always go.
 */
int			mmr_tombstone_collectable(const MmrVersion *tombstone,
									  int32_t local_node,
									  const MmrPeerHorizon *peers,
									  uint32_t npeers) MMR_NOEXCEPT;

/*
 * TRUNCATE (src/core/truncate_rules.cpp; docs/conflicts.md, "TRUNCATE").
 * A remote TRUNCATE is a delete of every local row that it has seen or
 * that loses to it, plus one table-wide tombstone of its version, which is
 * collected as mmr_tombstone_collectable says.
 *
 * mmr_truncate_row_decide: facts are the truncate's (remote, horizon,
 * resolvers) and the local row's version (row; change, row_exists and the
 * tombstone are ignored).  The decision is that of a DELETE of the row:
 * action DELETE (seen: conflict NONE; or it loses: delete_origin_differs
 * apply_remote), NOTHING (the row wins: delete_origin_differs keep_local)
 * or ERROR.  record_tombstone is 0: the table's tombstone stands for it.
 *
 * mmr_truncate_tombstone_replace: facts' tombstone is the table's truncate
 * tombstone here, if any; *replace says whether the remote truncate's
 * version replaces it (as delete_missing orders key tombstones; the error
 * resolver orders as last_update_wins).
 *
 * mmr_truncate_tombstone_answers: a remote INSERT or UPDATE whose row is
 * missing meets the key's tombstone (facts, maybe none) and the table's
 * truncate tombstone (truncate).  *use_truncate: decide it against the
 * truncate tombstone (it alone keeps the change out); 0: as facts are.
 */
MmrStatus	mmr_truncate_row_decide(const MmrConflictFacts *facts,
									MmrConflictDecision *out,
									MmrError *err) MMR_NOEXCEPT;
MmrStatus	mmr_truncate_tombstone_replace(const MmrConflictFacts *facts,
										   int *replace,
										   MmrError *err) MMR_NOEXCEPT;
MmrStatus	mmr_truncate_tombstone_answers(const MmrConflictFacts *facts,
										   const MmrVersion *truncate,
										   int *use_truncate,
										   MmrError *err) MMR_NOEXCEPT;

/*
 * Clock skew (mmr.max_clock_skew, mmr.clock_skew_action).  A remote commit
 * time ahead of the local clock is waited out before the remote transaction
 * is applied, so that a local write made after it always gets a later
 * commit time (timestamps then respect causality, which last_update_wins
 * needs to converge).  Within max_skew the wait is silent; beyond it, warn
 * is set, and with action "warn" there is no wait.
 */
#define MMR_SKEW_ACTION_WARN 0
#define MMR_SKEW_ACTION_WAIT 1

typedef struct MmrSkewDecision
{
	int64_t		ahead_by;		/* remote - now, in microseconds (may be < 0) */
	uint8_t		warn;			/* ahead by more than max_skew */
	int64_t		wait_until;		/* local time to wait for; 0: no wait */
} MmrSkewDecision;

void		mmr_clock_skew_decide(int64_t remote_commit_time, int64_t now,
								  int64_t max_skew, int action,
								  MmrSkewDecision *out) MMR_NOEXCEPT;

/* ------------------------------------------------------------------------
 * Global ids (src/core/global_id.cpp; docs/global_ids.md): mmr.global_nextval.
 *
 * An id is a positive int64: 41 bits of milliseconds since the epoch
 * below, 10 bits of node number (the node's node_id, 1..1023), 12 bits of
 * a per-node counter within the millisecond.  Ids of different nodes never
 * meet; one node's ids strictly increase, whatever its clock does.
 * ------------------------------------------------------------------------
 */
#define MMR_GLOBAL_ID_TIME_BITS 41
#define MMR_GLOBAL_ID_NODE_BITS 10
#define MMR_GLOBAL_ID_COUNTER_BITS 12
#define MMR_GLOBAL_ID_MAX_NODE 1023
#define MMR_GLOBAL_ID_MAX_COUNTER 4095
#define MMR_GLOBAL_ID_MAX_MILLIS ((INT64_C(1) << MMR_GLOBAL_ID_TIME_BITS) - 1)
/* 2025-01-01 00:00:00 UTC as a TimestampTz (microseconds since 2000-01-01) */
#define MMR_GLOBAL_ID_EPOCH INT64_C(789004800000000)

typedef struct MmrGlobalIdParts
{
	int64_t		millis;			/* since MMR_GLOBAL_ID_EPOCH */
	int32_t		node;
	int32_t		counter;
} MmrGlobalIdParts;

typedef enum MmrGlobalIdStatus
{
	MMR_GLOBAL_ID_OK = 0,
	MMR_GLOBAL_ID_BAD_NODE,		/* node not in 1..MMR_GLOBAL_ID_MAX_NODE */
	MMR_GLOBAL_ID_BEFORE_EPOCH, /* the clock reads before the epoch */
	MMR_GLOBAL_ID_EXHAUSTED,	/* past the last millisecond the bits hold */
	MMR_GLOBAL_ID_BAD_PART		/* counter out of range, or time < 0 */
} MmrGlobalIdStatus;

/* Packs parts into *id. */
MmrGlobalIdStatus mmr_global_id_make(const MmrGlobalIdParts *parts,
									 int64_t *id) MMR_NOEXCEPT;

/* Unpacks an id (any int64: a negative one unpacks as all zero). */
void		mmr_global_id_split(int64_t id, MmrGlobalIdParts *out) MMR_NOEXCEPT;

/*
 * The id that follows last (the node's previous id, or <= 0 for none) at
 * local time now (a TimestampTz) on node: the current millisecond with
 * counter 0 when the clock has passed last's millisecond; otherwise last's
 * millisecond and the next counter, or the millisecond after it when the
 * counter is used up.  So it is always greater than last, also when the
 * clock went back.  A last of another node (a sequence value copied at a
 * join) only keeps its millisecond: the counter starts again at 0.
 */
MmrGlobalIdStatus mmr_global_id_next(int64_t last, int64_t now, int32_t node,
									 int64_t *id) MMR_NOEXCEPT;

/* ------------------------------------------------------------------------
 * Write partitioning (src/core/write_rules.cpp; docs/write_partitioning.md):
 * may this node write this table, this row?  The glue gathers the table's
 * settings (mmr.set_table_writer, mmr.set_row_writer_column) and the text
 * of the row's writer column; node names compare bytewise.
 * ------------------------------------------------------------------------
 */
typedef struct MmrWriteRule
{
	MmrBytes	table_writer;	/* the only node that may write; data NULL: any */
	uint8_t		rows_owned;		/* a column names each row's writer */
} MmrWriteRule;

typedef enum MmrWriteVerdict
{
	MMR_WRITE_ALLOWED = 0,
	MMR_WRITE_NOT_TABLE_WRITER, /* the table has another writer */
	MMR_WRITE_OLD_ROW_FOREIGN,	/* the row updated or deleted is not ours */
	MMR_WRITE_NEW_ROW_FOREIGN,	/* the row inserted or updated to is not ours */
	MMR_WRITE_TRUNCATE_OWNED	/* TRUNCATE would remove other nodes' rows */
} MmrWriteVerdict;

/*
 * A write by local_node: a row change (old_owner: the writer column of the
 * row updated or deleted, new_owner: of the row inserted or updated to;
 * NULL pointer: no such row; data NULL: the column is NULL, which is no
 * node's) or, with truncate set, a TRUNCATE (owners unused).  The table
 * rule is checked first.
 */
MmrWriteVerdict mmr_write_decide(const MmrWriteRule *rule, MmrBytes local_node,
								 int truncate, const MmrBytes *old_owner,
								 const MmrBytes *new_owner) MMR_NOEXCEPT;

/*
 * DDL replication (docs/ddl.md; the DDL engineer's block).
 *
 * A replicated DDL command travels as a transactional logical message with
 * prefix MMR_DDL_PREFIX, in commit order with the data changes.  Content:
 * u8 version (1), str role, str search_path, str command (str as in the
 * protocol: u32 length, bytes).  Decode rejects empty role or command, NUL
 * bytes, truncation and trailing bytes (the input is untrusted); the
 * decoded strings point into the input.
 */
#define MMR_DDL_PREFIX "mmr.ddl"

typedef struct MmrDdlMessage
{
	MmrBytes	role;			/* the role that ran it on the origin */
	MmrBytes	search_path;	/* its search_path there */
	MmrBytes	command;		/* the SQL text, one or more statements */
} MmrDdlMessage;

size_t		mmr_ddl_message_encode(const MmrDdlMessage *msg, char *buf,
								   size_t cap, MmrError *err) MMR_NOEXCEPT;
MmrStatus	mmr_ddl_message_decode(const char *data, size_t len,
								   MmrDdlMessage *out,
								   MmrError *err) MMR_NOEXCEPT;

/* What a statement is, as the glue classifies its parse tree. */
typedef enum MmrDdlKind
{
	MMR_DDL_KIND_NONE = 0,		/* not a schema change (queries, SET, VACUUM,
								 * transaction control...) */
	MMR_DDL_KIND_SCHEMA,		/* CREATE/ALTER/DROP of an object of the
								 * database, GRANT/REVOKE, COMMENT */
	MMR_DDL_KIND_GLOBAL,		/* roles, databases, tablespaces, ALTER
								 * SYSTEM: objects of the whole server */
	MMR_DDL_KIND_EXTENSION,		/* CREATE/ALTER/DROP EXTENSION */
	MMR_DDL_KIND_WITH_DATA		/* CREATE TABLE AS, SELECT INTO: also writes
								 * rows, which replicate by themselves */
} MmrDdlKind;

typedef struct MmrDdlFacts
{
	uint8_t		kind;			/* MmrDdlKind */
	uint8_t		temporary;		/* creates or touches a temporary object */
	uint8_t		permanent;		/* creates or touches a permanent one */
	uint8_t		in_mmr_schema;	/* an object of mmr's own schema */
	uint8_t		concurrently;	/* CONCURRENTLY (commits on its own) */
	uint8_t		unreplicated_table; /* a table excluded from replication */
	uint8_t		nested;			/* run inside a DO block or procedure */
	uint8_t		explicit_call;	/* mmr.replicate_ddl(), not capture */
} MmrDdlFacts;

typedef enum MmrDdlAction
{
	MMR_DDL_RUN = 0,			/* not DDL: run it, nothing to replicate */
	MMR_DDL_REPLICATE,			/* run it and replicate it */
	MMR_DDL_LOCAL,				/* run it here only, quietly */
	MMR_DDL_LOCAL_NOTICE,		/* run it here only, with a NOTICE */
	MMR_DDL_REFUSE				/* ERROR, nothing runs */
} MmrDdlAction;

typedef enum MmrDdlReason
{
	MMR_DDL_REASON_NONE = 0,
	MMR_DDL_REASON_NOT_DDL,
	MMR_DDL_REASON_TEMPORARY,
	MMR_DDL_REASON_MIXED_TEMPORARY,
	MMR_DDL_REASON_MMR_SCHEMA,
	MMR_DDL_REASON_GLOBAL_OBJECT,
	MMR_DDL_REASON_EXTENSION,
	MMR_DDL_REASON_CONCURRENTLY,
	MMR_DDL_REASON_WITH_DATA,
	MMR_DDL_REASON_UNREPLICATED_TABLE,
	MMR_DDL_REASON_NESTED
} MmrDdlReason;

typedef struct MmrDdlDecision
{
	uint8_t		action;			/* MmrDdlAction */
	uint8_t		reason;			/* MmrDdlReason: why it is not replicated */
} MmrDdlDecision;

void		mmr_ddl_decide(const MmrDdlFacts *facts,
						   MmrDdlDecision *out) MMR_NOEXCEPT;

/*
 * Unchanged TOAST values (docs/apply.md): a remote UPDATE does not carry
 * the columns it left unchanged that are stored out of line, and without
 * a whole old row (REPLICA IDENTITY FULL) the receiver has them only from
 * its own row.  Returns 1 when they must be fetched from the change's
 * origin instead: the new row is stored or given to a custom resolver
 * (decision: INSERT, UPDATE or call_custom), and there is no local row,
 * or the change conflicts with it, or the sender's horizon shows a write
 * of a third origin that this node has not applied (local_horizon: this
 * node's applied horizon; a change without a horizon shows none).  0: the
 * local row's values are the sender's.
 */
int			mmr_unchanged_from_origin(const MmrConflictFacts *facts,
									  const MmrConflictDecision *decision,
									  const MmrHorizonEntry *local_horizon,
									  uint32_t nlocal) MMR_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif							/* MMR_CORE_H */
