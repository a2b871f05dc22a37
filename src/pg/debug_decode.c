/*-------------------------------------------------------------------------
 *
 * debug_decode.c
 *	  mmr.decode_message(bytea): renders one protocol message as jsonb, so
 *	  that tests and DBAs can read exactly what the output plugin emits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"

#include "mmr.h"

PG_FUNCTION_INFO_V1(mmr_decode_message);

static MmrDecoder *debug_decoder = NULL;

/*
 * The decoder keeps reusable arrays; one per backend is enough, created in
 * the core's own memory and kept until the backend exits.
 */
static MmrDecoder *
get_debug_decoder(void)
{
	MmrError	err;

	if (debug_decoder == NULL)
	{
		debug_decoder = mmr_decoder_create(&err);
		if (debug_decoder == NULL)
			mmr_core_raise(&err);
	}
	return debug_decoder;
}

Datum
mmr_decode_message(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	int32		version = PG_GETARG_INT32(1);
	MmrMessage	msg;
	MmrError	err;
	size_t		cap = 256;
	size_t		needed;
	char	   *json;

	if (version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("protocol version must be positive")));

	if (mmr_decoder_decode(get_debug_decoder(), (uint32) version,
						   VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw),
						   &msg, &err) != MMR_OK)
		mmr_core_raise(&err);

	for (;;)
	{
		json = palloc(cap + 1);
		needed = mmr_message_to_json(&msg, json, cap, &err);
		if (needed == 0)
			mmr_core_raise(&err);
		if (needed <= cap)
			break;
		if (needed >= MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("decoded message is too large to render")));
		pfree(json);
		cap = needed;
	}
	json[needed] = '\0';

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}
