/*
 * truncate_rules.cpp
 *	  TRUNCATE as a delete of every row (docs/conflicts.md, "TRUNCATE").
 *
 *	  A remote TRUNCATE deletes each local row that it has seen or that
 *	  loses to it, exactly as a DELETE of that row would be decided, and
 *	  leaves one table-wide tombstone (the truncate's version) that stands
 *	  for the tombstones of every row it removed.  These rules are built on
 *	  mmr_conflict_decide, so a truncate and a row delete can never be
 *	  decided differently.
 */
#include "error.hpp"
#include "mmr_core.h"

#include "core_only.hpp"

using mmr::core::fail;
using mmr::core::run_guarded;

namespace
{

void
check_facts(const MmrConflictFacts *facts)
{
	if (facts == nullptr)
		fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("conflict facts are null"));
}

void
decide(const MmrConflictFacts &facts, MmrConflictDecision &out)
{
	MmrError	err;
	MmrStatus	status = mmr_conflict_decide(&facts, &out, &err);

	if (status != MMR_OK)
		fail(status, FMT_STRING("{}"), err.message);
}

/* Does the decision store the remote row (for the key's tombstones)? */
bool
stores(const MmrConflictDecision &d) noexcept
{
	return d.action == MMR_ACTION_INSERT || d.action == MMR_ACTION_UPDATE;
}

}							/* namespace */

extern "C" MmrStatus
mmr_truncate_row_decide(const MmrConflictFacts *facts, MmrConflictDecision *out,
						MmrError *err) noexcept
{
	return run_guarded(err, [&] {
		check_facts(facts);
		if (out == nullptr)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("decision is null"));
		MmrConflictFacts f = *facts;

		f.change = MMR_CHANGE_DELETE;
		f.row_exists = 1;
		f.tombstone_exists = 0;
		decide(f, *out);
		/* The table's truncate tombstone stands for the row's. */
		out->record_tombstone = 0;
	});
}

extern "C" MmrStatus
mmr_truncate_tombstone_replace(const MmrConflictFacts *facts, int *replace,
							   MmrError *err) noexcept
{
	return run_guarded(err, [&] {
		check_facts(facts);
		if (replace == nullptr)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("result is null"));
		MmrConflictFacts f = *facts;
		MmrConflictDecision d;

		/*
		 * Ordered as delete_missing orders key tombstones.  The error
		 * resolver stops row changes for a person to look at; the order of
		 * two truncates must still be total: last_update_wins then.
		 */
		if (f.resolvers[MMR_CONFLICT_DELETE_MISSING] == MMR_RESOLVER_ERROR)
			f.resolvers[MMR_CONFLICT_DELETE_MISSING] = MMR_RESOLVER_LAST_UPDATE_WINS;
		f.change = MMR_CHANGE_DELETE;
		f.row_exists = 0;
		decide(f, d);
		*replace = d.record_tombstone != 0;
	});
}

extern "C" MmrStatus
mmr_truncate_tombstone_answers(const MmrConflictFacts *facts,
							   const MmrVersion *truncate, int *use_truncate,
							   MmrError *err) noexcept
{
	return run_guarded(err, [&] {
		check_facts(facts);
		if (truncate == nullptr || use_truncate == nullptr)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("truncate tombstone or result is null"));
		if (facts->change != MMR_CHANGE_INSERT && facts->change != MMR_CHANGE_UPDATE)
			fail(MMR_ERR_INVALID_ARGUMENT,
				 FMT_STRING("only an insert or an update meets a truncate tombstone"));
		if (facts->row_exists)
			fail(MMR_ERR_INVALID_ARGUMENT,
				 FMT_STRING("a truncate tombstone answers only a change whose row is missing"));
		MmrConflictFacts by_truncate = *facts;
		MmrConflictDecision key_d;
		MmrConflictDecision truncate_d;

		by_truncate.tombstone_exists = 1;
		by_truncate.tombstone = *truncate;
		decide(*facts, key_d);
		decide(by_truncate, truncate_d);
		/*
		 * The key's own state (its tombstone, or none) answers, unless only
		 * the truncate keeps the change out: so a change the truncate does
		 * not stop is decided, and logged, as without it.
		 */
		*use_truncate = stores(key_d) && !stores(truncate_d);
	});
}
