/*
 * conflict_facts.hpp
 *	  Building MmrConflictFacts in tests: versions of named nodes, a facts
 *	  value that owns its horizon, and one-call decisions.
 */
#ifndef MMR_TEST_CONFLICT_FACTS_HPP
#define MMR_TEST_CONFLICT_FACTS_HPP

#include <cstring>
#include <string>
#include <vector>

#include "mmr_core.h"

namespace mmr_test
{

/* Node n's name is "n<id>" unless given; names must outlive the version. */
inline MmrVersion
version(int32_t node, const char *name, int64_t commit_time, int32_t priority = 0,
		bool time_known = true)
{
	MmrVersion	v{};

	v.origin_node = node;
	v.commit_time = commit_time;
	v.time_known = time_known ? 1 : 0;
	v.priority = priority;
	v.origin_name = MmrBytes{name, static_cast<uint32_t>(std::strlen(name))};
	return v;
}

struct Facts
{
	MmrConflictFacts f{};
	std::vector<MmrHorizonEntry> horizon;

	explicit Facts(MmrChangeKind change, int32_t local_node = 1)
	{
		f.change = static_cast<uint8_t>(change);
		f.local_node = local_node;
		all_resolvers(MMR_RESOLVER_LAST_UPDATE_WINS);
	}

	Facts &all_resolvers(MmrResolverKind r)
	{
		for (auto &slot : f.resolvers)
			slot = static_cast<uint8_t>(r);
		return *this;
	}

	Facts &resolver(MmrConflictType type, MmrResolverKind r)
	{
		f.resolvers[type] = static_cast<uint8_t>(r);
		return *this;
	}

	/* other: v is another row holding a unique value (decide() claims it). */
	Facts &row(const MmrVersion &v, bool other = false)
	{
		f.row_exists = other ? 0 : 1;
		f.row = v;
		other_row = other;
		return *this;
	}

	Facts &tombstone(const MmrVersion &v)
	{
		f.tombstone_exists = 1;
		f.tombstone = v;
		return *this;
	}

	Facts &remote(const MmrVersion &v)
	{
		f.remote = v;
		return *this;
	}

	Facts &seen_up_to(int32_t node, int64_t commit_time)
	{
		horizon.push_back(MmrHorizonEntry{node, commit_time});
		return *this;
	}

	MmrConflictDecision decide()
	{
		MmrConflictDecision out{};
		MmrError	err{};

		f.horizon = horizon.empty() ? nullptr : horizon.data();
		f.nhorizon = static_cast<uint32_t>(horizon.size());
		last_status = other_row ? mmr_unique_claim(&f, &f.row, &out, &err) :
			mmr_conflict_decide(&f, &out, &err);
		last_error = err.message;
		return out;
	}

	bool		other_row = false;
	MmrStatus	last_status = MMR_OK;
	std::string last_error;
};

}							/* namespace mmr_test */

#endif							/* MMR_TEST_CONFLICT_FACTS_HPP */
