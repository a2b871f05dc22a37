/*-------------------------------------------------------------------------
 *
 * dsn.c
 *	  SQL access to connection string handling of the core.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "mmr.h"

PG_FUNCTION_INFO_V1(mmr_mask_dsn);

/*
 * mmr_dsn_masked returns a palloc'd copy of dsn without its passwords.
 */
char *
mmr_dsn_masked(const char *dsn)
{
	size_t		len = strlen(dsn);
	size_t		cap = len + 16;

	for (;;)
	{
		char	   *buf = palloc(cap + 1);
		MmrError	err;
		size_t		needed = mmr_dsn_mask(dsn, len, buf, cap, &err);

		if (needed == 0)
			mmr_core_raise(&err);
		if (needed <= cap)
		{
			buf[needed] = '\0';
			return buf;
		}
		pfree(buf);
		cap = needed;
	}
}

/* mmr.mask_dsn(dsn text) returns text */
Datum
mmr_mask_dsn(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(mmr_dsn_masked(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}
