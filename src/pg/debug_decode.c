/*-------------------------------------------------------------------------
 *
 * debug_decode.c
 *	  mmr.decode_message(bytea): renders the protocol messages of one write
 *	  of the output plugin as jsonb rows, so that tests and DBAs can read
 *	  exactly what it emits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

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

/*
 * render_json returns msg as a jsonb datum.
 */
static Datum
render_json(const MmrMessage *msg)
{
	MmrError	err;
	size_t		cap = 256;
	size_t		needed;
	char	   *json;

	for (;;)
	{
		json = palloc(cap + 1);
		needed = mmr_message_to_json(msg, json, cap, &err);
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
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/*
 * mmr.decode_message(message bytea, proto_version integer) returns setof
 * jsonb: one row per protocol message in the batch.
 */
Datum
mmr_decode_message(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	int32		version = PG_GETARG_INT32(1);
	const char *data = VARDATA_ANY(raw);
	size_t		len = VARSIZE_ANY_EXHDR(raw);
	size_t		pos = 0;

	if (version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("protocol version must be positive")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	do
	{
		MmrMessage	msg;
		MmrError	err;
		size_t		consumed;
		Datum		value;
		bool		isnull = false;

		if (mmr_decoder_decode_first(get_debug_decoder(), (uint32) version,
									 data + pos, len - pos, &msg, &consumed,
									 &err) != MMR_OK)
			mmr_core_raise(&err);
		pos += consumed;
		value = render_json(&msg);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	} while (pos < len);

	return (Datum) 0;
}
