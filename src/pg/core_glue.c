/*-------------------------------------------------------------------------
 *
 * core_glue.c
 *	  Where the C++ core meets PostgreSQL: core errors become ereport(), and
 *	  core output lands in PostgreSQL buffers.
 *
 * NOTES
 *	  The core never calls PostgreSQL and never throws into it; it returns an
 *	  MmrError.  Only here is that turned into an ERROR, after the core call
 *	  has returned, so no longjmp ever crosses C++ frames.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "mmr.h"

/*
 * mmr_core_raise reports a core failure as a PostgreSQL ERROR.
 */
void
mmr_core_raise(const MmrError *err)
{
	switch (err->status)
	{
		case MMR_ERR_MALFORMED:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("invalid mmr protocol message: %s", err->message)));
			break;
		case MMR_ERR_VERSION:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s", err->message),
					 errhint("This server supports mmr protocol versions %d to %d.",
							 MMR_PROTO_VERSION_MIN, MMR_PROTO_VERSION_MAX)));
			break;
		case MMR_ERR_NO_MEMORY:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("%s", err->message)));
			break;
		case MMR_ERR_INVALID_ARGUMENT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s", err->message)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("mmr core failure: %s", err->message)));
	}
	pg_unreachable();
}

/*
 * mmr_core_append_message encodes msg at the end of out, enlarging it when
 * the core says the message needs more room than is left.
 */
void
mmr_core_append_message(StringInfo out, uint32 version, const MmrMessage *msg)
{
	MmrError	err;

	for (;;)
	{
		size_t		avail = (size_t) (out->maxlen - out->len - 1);
		size_t		needed = mmr_proto_encode(version, msg, out->data + out->len,
											  avail, &err);

		if (needed == 0)
			mmr_core_raise(&err);
		if (needed <= avail)
		{
			out->len += (int) needed;
			out->data[out->len] = '\0';
			return;
		}
		if (needed >= (size_t) (MaxAllocSize - out->len))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("mmr protocol message of %zu bytes is too large", needed)));
		enlargeStringInfo(out, (int) needed);
	}
}
