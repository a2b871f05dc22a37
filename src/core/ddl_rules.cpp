/*
 * ddl_rules.cpp
 *	  Which DDL statements replicate (docs/ddl.md): a pure decision over the
 *	  facts the glue gathers from a statement's parse tree.
 *
 *	  Captured DDL (mmr.ddl_replication = on) that is not a schema change
 *	  runs as usual; temporary objects stay local quietly; objects of the
 *	  whole server (roles, databases, tablespaces), extensions and mmr's own
 *	  objects stay local with a NOTICE; what cannot replicate safely is
 *	  refused.  An explicit mmr.replicate_ddl() asks for replication, so
 *	  everything that would not replicate is refused there.
 */
#include <cstdint>

#include "mmr_core.h"

#include "core_only.hpp"

namespace
{

MmrDdlDecision
decide(const MmrDdlFacts &f) noexcept
{
	auto		refuse = [](MmrDdlReason reason) {
		return MmrDdlDecision{MMR_DDL_REFUSE, static_cast<uint8_t>(reason)};
	};

	/* What stays here when captured must not be asked to replicate. */
	auto		local = [&](MmrDdlAction action, MmrDdlReason reason) {
		if (f.explicit_call)
			return refuse(reason);
		return MmrDdlDecision{static_cast<uint8_t>(action), static_cast<uint8_t>(reason)};
	};

	if (f.kind == MMR_DDL_KIND_NONE)
		return local(MMR_DDL_RUN, MMR_DDL_REASON_NOT_DDL);
	if (f.temporary && f.permanent)
		return refuse(MMR_DDL_REASON_MIXED_TEMPORARY);
	if (f.temporary)
		return local(MMR_DDL_LOCAL, MMR_DDL_REASON_TEMPORARY);
	if (f.in_mmr_schema)
		return local(MMR_DDL_LOCAL_NOTICE, MMR_DDL_REASON_MMR_SCHEMA);
	if (f.kind == MMR_DDL_KIND_GLOBAL)
		return local(MMR_DDL_LOCAL_NOTICE, MMR_DDL_REASON_GLOBAL_OBJECT);
	if (f.kind == MMR_DDL_KIND_EXTENSION)
		return local(MMR_DDL_LOCAL_NOTICE, MMR_DDL_REASON_EXTENSION);
	if (f.concurrently)
		return refuse(MMR_DDL_REASON_CONCURRENTLY);
	if (f.kind == MMR_DDL_KIND_WITH_DATA)
		return refuse(MMR_DDL_REASON_WITH_DATA);
	if (f.unreplicated_table)
		return refuse(MMR_DDL_REASON_UNREPLICATED_TABLE);
	if (f.nested)
		return refuse(MMR_DDL_REASON_NESTED);
	return MmrDdlDecision{MMR_DDL_REPLICATE, MMR_DDL_REASON_NONE};
}

}							/* namespace */

extern "C" void
mmr_ddl_decide(const MmrDdlFacts *facts, MmrDdlDecision *out) noexcept
{
	if (facts == nullptr || out == nullptr)
		return;
	*out = decide(*facts);
}
