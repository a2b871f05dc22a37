/*-------------------------------------------------------------------------
 *
 * config_check.c
 *	  Refuses to form or join a group on a server that is not set up for
 *	  mmr, naming every missing setting at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/xlog.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "mmr.h"

static bool
list_setting_contains(const char *setting, const char *item)
{
	char	   *copy = pstrdup(setting);
	List	   *items;
	ListCell   *lc;
	bool		found = false;

	if (!SplitIdentifierString(copy, ',', &items))
		return false;
	foreach(lc, items)
		if (strcmp((char *) lfirst(lc), item) == 0)
			found = true;
	return found;
}

/*
 * mmr_check_server_config raises one ERROR listing every setting that
 * mmr needs and this server lacks.
 */
void
mmr_check_server_config(void)
{
	StringInfoData problems;
	StringInfoData fixes;
	const char *plugins = GetConfigOption("output_plugin_libraries", true, false);

	initStringInfo(&problems);
	initStringInfo(&fixes);

	if (!mmr_is_preloaded)
	{
		appendStringInfoString(&problems, " shared_preload_libraries does not include mmr.");
		appendStringInfoString(&fixes, ", shared_preload_libraries = 'mmr'");
	}
	if (wal_level < WAL_LEVEL_LOGICAL)
	{
		appendStringInfo(&problems, " wal_level is \"%s\".",
						 GetConfigOption("wal_level", false, false));
		appendStringInfoString(&fixes, ", wal_level = logical");
	}
	if (!track_commit_timestamp)
	{
		appendStringInfoString(&problems, " track_commit_timestamp is off.");
		appendStringInfoString(&fixes, ", track_commit_timestamp = on");
	}
	/* Only 15.19 and later have the setting; older servers allow any plugin. */
	if (plugins != NULL && !list_setting_contains(plugins, "mmr"))
	{
		appendStringInfo(&problems, " output_plugin_libraries (\"%s\") does not include mmr.",
						 plugins);
		appendStringInfo(&fixes, ", output_plugin_libraries = '%s%smmr'",
						 plugins, plugins[0] ? ", " : "");
	}

	if (problems.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("server is not configured for mmr"),
				 errdetail("%s", problems.data + 1),
				 errhint("Set in postgresql.conf: %s; then restart the server.",
						 fixes.data + 2)));
}
