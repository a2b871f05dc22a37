/*
 * conflict.cpp
 *	  Conflict decisions: what to do with a remote change that meets a local
 *	  row, another row holding one of its unique values, a tombstone of its
 *	  key, or nothing (docs/conflicts.md, "Decisions").
 *
 *	  mmr_conflict_decide is a pure function of the facts the glue gathered,
 *	  so that every node takes the same decision from the same facts and the
 *	  convergence simulator (test/sim) can run the very code that ships.
 */
#include <cstring>
#include <string_view>

#include "error.hpp"
#include "mmr_core.h"

#include "core_only.hpp"

namespace mmr::core
{

namespace
{

const char *const kConflictTypeNames[MMR_CONFLICT_NTYPES] = {
	nullptr,
	"insert_exists",
	"update_origin_differs",
	"update_exists",
	"update_missing",
	"update_deleted",
	"delete_origin_differs",
	"delete_missing",
	"insert_deleted",
};

const char *const kResolverNames[] = {
	"last_update_wins",
	"first_update_wins",
	"origin_wins",
	"apply_remote",
	"keep_local",
	"error",
	"custom",
};

constexpr int kNumResolvers = static_cast<int>(sizeof(kResolverNames) / sizeof(kResolverNames[0]));

const char *const kResolutionNames[] = {
	nullptr,
	"apply_remote",
	"keep_local",
	"merged",
	"skip",
	"error",
};

constexpr int kNumResolutions = static_cast<int>(sizeof(kResolutionNames) / sizeof(kResolutionNames[0]));

int
find_name(const char *const *names, int count, const char *name) noexcept
{
	if (name == nullptr)
		return -1;
	for (int i = 0; i < count; i++)
		if (names[i] != nullptr && std::strcmp(names[i], name) == 0)
			return i;
	return -1;
}

std::string_view
name_of(const MmrVersion &v) noexcept
{
	return std::string_view(v.origin_name.data, v.origin_name.data ? v.origin_name.len : 0);
}

/* Equal commit times: the greater node name wins, the remote on equal names. */
bool
tie_to_remote(const MmrVersion &remote, const MmrVersion &local) noexcept
{
	return name_of(remote).compare(name_of(local)) >= 0;
}

/*
 * Is the remote change later than the local version?  An unknown local
 * time is older than everything.  A remote change's time is always known
 * (BEGIN carries it), so its time_known is not consulted.
 */
bool
remote_later(const MmrVersion &remote, const MmrVersion &local) noexcept
{
	if (!local.time_known)
		return true;
	if (remote.commit_time != local.commit_time)
		return remote.commit_time > local.commit_time;
	return tie_to_remote(remote, local);
}

/* wins(remote, local) for the resolvers that compare versions. */
bool
remote_wins(MmrResolverKind resolver, const MmrVersion &remote, const MmrVersion &local) noexcept
{
	switch (resolver)
	{
		case MMR_RESOLVER_FIRST_UPDATE_WINS:
			if (!local.time_known)
				return false;
			if (remote.commit_time != local.commit_time)
				return remote.commit_time < local.commit_time;
			return tie_to_remote(remote, local);
		case MMR_RESOLVER_ORIGIN_WINS:
			if (remote.priority != local.priority)
				return remote.priority > local.priority;
			return remote_later(remote, local);
		case MMR_RESOLVER_APPLY_REMOTE:
			return true;
		case MMR_RESOLVER_KEEP_LOCAL:
			return false;
		default:
			return remote_later(remote, local);
	}
}

/* Has the sender seen this local version (docs/conflicts.md)? */
bool
seen(const MmrConflictFacts &f, const MmrVersion &local) noexcept
{
	if (!local.time_known)
		return true;
	if (local.origin_node == MMR_NODE_UNKNOWN)
		return false;
	if (local.origin_node == f.remote.origin_node)
		return true;
	for (uint32_t i = 0; i < f.nhorizon; i++)
		if (f.horizon[i].node_id == local.origin_node)
			return f.horizon[i].commit_time >= local.commit_time;
	return false;
}

/*
 * A delete stores or refreshes the key's tombstone with its own version,
 * unless the tombstone already there wins against it: the tombstone holds
 * the winning delete in the order of the resolver of delete conflicts, so
 * that every node answers later writes of the key alike.  A delete that
 * has seen the tombstone's delete always replaces it.
 */
bool
refresh_tombstone(const MmrConflictFacts &f, MmrResolverKind resolver) noexcept
{
	return !f.tombstone_exists || seen(f, f.tombstone) ||
		remote_wins(resolver, f.remote, f.tombstone);
}

class Decider
{
public:
	Decider(const MmrConflictFacts &facts, MmrConflictDecision &out) noexcept
		: f_(facts), out_(out)
	{
		std::memset(&out_, 0, sizeof(out_));
	}

	void decide()
	{
		switch (f_.change)
		{
			case MMR_CHANGE_INSERT:
				decide_insert();
				break;
			case MMR_CHANGE_UPDATE:
				decide_update();
				break;
			case MMR_CHANGE_DELETE:
				decide_delete();
				break;
			default:
				fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("unknown change kind {}"), f_.change);
		}
	}

	/* mmr_unique_claim: the change against a unique value's register. */
	void claim(const MmrVersion *holder)
	{
		if (f_.change != MMR_CHANGE_INSERT && f_.change != MMR_CHANGE_UPDATE)
			fail(MMR_ERR_INVALID_ARGUMENT,
				 FMT_STRING("only an insert or an update claims unique values"));
		MmrConflictType type = f_.change == MMR_CHANGE_INSERT ?
			MMR_CONFLICT_INSERT_EXISTS : MMR_CONFLICT_UPDATE_EXISTS;

		if (holder == nullptr || seen(f_, *holder))
		{
			apply(MMR_ACTION_DELETE_OTHER);
			out_.record_tombstone = 1;
			return;
		}
		MmrResolverKind resolver = resolver_for(type);

		/* A custom function decides rows, not who holds a value. */
		if (resolver == MMR_RESOLVER_CUSTOM)
			resolver = MMR_RESOLVER_LAST_UPDATE_WINS;
		start(type, resolver);
		if (resolver == MMR_RESOLVER_ERROR)
			return stop();
		if (!remote_wins(resolver, f_.remote, *holder))
			return outcome(MMR_ACTION_NOTHING, MMR_RESOLUTION_KEEP_LOCAL);
		outcome(MMR_ACTION_DELETE_OTHER, MMR_RESOLUTION_APPLY_REMOTE);
		out_.record_tombstone = 1;
	}

private:
	void decide_insert()
	{
		if (f_.row_exists)
		{
			if (seen(f_, f_.row))
				return apply(MMR_ACTION_UPDATE);
			return conflict(MMR_CONFLICT_INSERT_EXISTS, f_.row, MMR_ACTION_UPDATE,
							MMR_RESOLUTION_KEEP_LOCAL);
		}
		if (f_.tombstone_exists && !seen(f_, f_.tombstone))
		{
			/* insert_deleted is a conflict only when the tombstone wins. */
			MmrResolverKind resolver = resolver_for(MMR_CONFLICT_INSERT_DELETED);

			if (resolver == MMR_RESOLVER_ERROR)
			{
				start(MMR_CONFLICT_INSERT_DELETED, resolver);
				return stop();
			}
			if (!remote_wins(resolver, f_.remote, f_.tombstone))
			{
				start(MMR_CONFLICT_INSERT_DELETED, resolver);
				return outcome(MMR_ACTION_NOTHING, MMR_RESOLUTION_SKIP);
			}
		}
		apply(MMR_ACTION_INSERT);
	}

	void decide_update()
	{
		if (f_.row_exists)
		{
			if (seen(f_, f_.row))
				return apply(MMR_ACTION_UPDATE);
			return conflict(MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS, f_.row, MMR_ACTION_UPDATE,
							MMR_RESOLUTION_KEEP_LOCAL);
		}
		if (f_.tombstone_exists)
			return conflict(MMR_CONFLICT_UPDATE_DELETED, f_.tombstone, MMR_ACTION_INSERT,
							MMR_RESOLUTION_SKIP);
		update_missing();
	}

	/* No row and no tombstone: every resolver but keep_local inserts. */
	void update_missing()
	{
		MmrResolverKind resolver = resolver_for(MMR_CONFLICT_UPDATE_MISSING);

		start(MMR_CONFLICT_UPDATE_MISSING, resolver);
		if (resolver == MMR_RESOLVER_ERROR)
			return stop();
		if (resolver == MMR_RESOLVER_CUSTOM)
			return custom(MMR_ACTION_INSERT);
		if (resolver == MMR_RESOLVER_KEEP_LOCAL)
			return outcome(MMR_ACTION_NOTHING, MMR_RESOLUTION_SKIP);
		outcome(MMR_ACTION_INSERT, MMR_RESOLUTION_APPLY_REMOTE);
	}

	void decide_delete()
	{
		/* Tombstones are ordered as delete_missing decides. */
		MmrResolverKind resolver = resolver_for(MMR_CONFLICT_DELETE_MISSING);

		if (f_.row_exists)
		{
			if (seen(f_, f_.row))
			{
				apply(MMR_ACTION_DELETE);
				out_.record_tombstone = refresh_tombstone(f_, resolver);
				return;
			}
			conflict(MMR_CONFLICT_DELETE_ORIGIN_DIFFERS, f_.row, MMR_ACTION_DELETE,
					 MMR_RESOLUTION_KEEP_LOCAL);
			out_.record_tombstone = out_.action == MMR_ACTION_DELETE &&
				refresh_tombstone(f_, resolver);
			return;
		}
		/* Nothing to delete: remember the delete against late older writes. */
		start(MMR_CONFLICT_DELETE_MISSING, resolver);
		if (resolver == MMR_RESOLVER_ERROR)
			return stop();
		outcome(MMR_ACTION_NOTHING, MMR_RESOLUTION_SKIP);
		out_.record_tombstone = refresh_tombstone(f_, resolver);
	}

	/* Not a conflict: apply, log nothing. */
	void apply(MmrApplyAction action)
	{
		out_.conflict = MMR_CONFLICT_NONE;
		out_.resolution = MMR_RESOLUTION_NONE;
		out_.action = static_cast<uint8_t>(action);
	}

	/*
	 * A conflict of type against the local version: win is the action when
	 * the remote change wins, lose_as the resolution when it loses (the
	 * action is then NOTHING).
	 */
	void conflict(MmrConflictType type, const MmrVersion &local, MmrApplyAction win,
				  MmrResolution lose_as)
	{
		MmrResolverKind resolver = resolver_for(type);

		start(type, resolver);
		if (resolver == MMR_RESOLVER_ERROR)
			return stop();
		if (resolver == MMR_RESOLVER_CUSTOM)
			return custom(win);
		if (remote_wins(resolver, f_.remote, local))
			outcome(win, MMR_RESOLUTION_APPLY_REMOTE);
		else
			outcome(MMR_ACTION_NOTHING, lose_as);
	}

	MmrResolverKind resolver_for(MmrConflictType type) const
	{
		int			resolver = f_.resolvers[type];

		if (resolver < 0 || resolver >= kNumResolvers)
			fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("unknown resolver {} for conflict type \"{}\""),
				 resolver, kConflictTypeNames[type]);
		if (resolver == MMR_RESOLVER_CUSTOM && !mmr_conflict_custom_allowed(type))
			fail(MMR_ERR_INVALID_ARGUMENT,
				 FMT_STRING("a custom resolver cannot decide conflict type \"{}\""),
				 kConflictTypeNames[type]);
		return static_cast<MmrResolverKind>(resolver);
	}

	void start(MmrConflictType type, MmrResolverKind resolver)
	{
		out_.conflict = static_cast<uint8_t>(type);
		out_.resolver = static_cast<uint8_t>(resolver);
	}

	void stop() { outcome(MMR_ACTION_ERROR, MMR_RESOLUTION_ERROR); }

	/* The glue runs the function; action applies if it returns the remote row. */
	void custom(MmrApplyAction action)
	{
		out_.call_custom = 1;
		outcome(action, MMR_RESOLUTION_APPLY_REMOTE);
	}

	void outcome(MmrApplyAction action, MmrResolution resolution)
	{
		out_.action = static_cast<uint8_t>(action);
		out_.resolution = static_cast<uint8_t>(resolution);
	}

	const MmrConflictFacts &f_;
	MmrConflictDecision &out_;
};

void
check_arguments(const MmrConflictFacts *facts, const MmrConflictDecision *out)
{
	if (facts == nullptr || out == nullptr)
		fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("conflict facts or decision is null"));
	if (facts->horizon == nullptr && facts->nhorizon != 0)
		fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("horizon of {} entries is null"),
			 facts->nhorizon);
}

}							/* namespace */

}							/* namespace mmr::core */

using namespace mmr::core;

extern "C" const char *
mmr_conflict_type_name(int type) noexcept
{
	if (type <= MMR_CONFLICT_NONE || type >= MMR_CONFLICT_NTYPES)
		return nullptr;
	return kConflictTypeNames[type];
}

extern "C" const char *
mmr_resolver_name(int resolver) noexcept
{
	if (resolver < 0 || resolver >= kNumResolvers)
		return nullptr;
	return kResolverNames[resolver];
}

extern "C" const char *
mmr_resolution_name(int resolution) noexcept
{
	if (resolution <= MMR_RESOLUTION_NONE || resolution >= kNumResolutions)
		return nullptr;
	return kResolutionNames[resolution];
}

extern "C" int
mmr_conflict_type_from_name(const char *name) noexcept
{
	return find_name(kConflictTypeNames, MMR_CONFLICT_NTYPES, name);
}

extern "C" int
mmr_resolver_from_name(const char *name) noexcept
{
	return find_name(kResolverNames, kNumResolvers, name);
}

extern "C" int
mmr_conflict_custom_allowed(int type) noexcept
{
	switch (type)
	{
		case MMR_CONFLICT_INSERT_EXISTS:
		case MMR_CONFLICT_UPDATE_ORIGIN_DIFFERS:
		case MMR_CONFLICT_UPDATE_EXISTS:
		case MMR_CONFLICT_UPDATE_MISSING:
		case MMR_CONFLICT_UPDATE_DELETED:
			return 1;
		default:
			return 0;
	}
}

extern "C" MmrStatus
mmr_conflict_decide(const MmrConflictFacts *facts, MmrConflictDecision *out, MmrError *err) noexcept
{
	return run_guarded(err, [&] {
		check_arguments(facts, out);
		Decider(*facts, *out).decide();
	});
}

extern "C" MmrStatus
mmr_unique_claim(const MmrConflictFacts *facts, const MmrVersion *holder,
				 MmrConflictDecision *out, MmrError *err) noexcept
{
	return run_guarded(err, [&] {
		check_arguments(facts, out);
		Decider(*facts, *out).claim(holder);
	});
}
