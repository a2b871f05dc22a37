/*
 * tombstone_collect_test.cpp
 *	  mmr_tombstone_collectable: a tombstone goes only when every peer other
 *	  than its origin has applied the origin's transactions up to it.
 */
#include <vector>

#include <gtest/gtest.h>

#include "conflict_facts.hpp"
#include "mmr_core.h"

namespace
{

using mmr_test::version;

constexpr int32_t kLocal = 1;

struct Peers
{
	std::vector<std::vector<MmrHorizonEntry>> horizons;
	std::vector<MmrPeerHorizon> peers;

	Peers &add(int32_t node, std::vector<MmrHorizonEntry> entries)
	{
		horizons.push_back(std::move(entries));
		peers.push_back(MmrPeerHorizon{node, nullptr, 0});
		return *this;
	}

	bool collectable(const MmrVersion &tombstone)
	{
		for (size_t i = 0; i < peers.size(); i++)
		{
			peers[i].entries = horizons[i].empty() ? nullptr : horizons[i].data();
			peers[i].nentries = static_cast<uint32_t>(horizons[i].size());
		}
		return mmr_tombstone_collectable(&tombstone, kLocal, peers.data(),
										 static_cast<uint32_t>(peers.size())) != 0;
	}
};

/* A delete made on n3 at 500, held here on n1; peers n2, n3, n4. */
const MmrVersion kTombstone = version(3, "n3", 500);

TEST(TombstoneCollectable, AllPeersPast)
{
	Peers		p;

	p.add(2, {{3, 500}, {1, 10}}).add(3, {{1, 10}}).add(4, {{2, 7}, {3, 900}});
	EXPECT_TRUE(p.collectable(kTombstone));
}

TEST(TombstoneCollectable, OnePeerBehind)
{
	Peers		p;

	p.add(2, {{3, 500}}).add(4, {{3, 499}});
	EXPECT_FALSE(p.collectable(kTombstone));
}

TEST(TombstoneCollectable, OriginPeerExcluded)
{
	/* n3 made the delete: it has nothing older of its own to send. */
	Peers		p;

	p.add(2, {{3, 600}}).add(3, {});
	EXPECT_TRUE(p.collectable(kTombstone));
}

TEST(TombstoneCollectable, PeerWithNoHorizonOrNoEntryPins)
{
	Peers		silent;

	silent.add(2, {{3, 600}}).add(4, {});
	EXPECT_FALSE(silent.collectable(kTombstone));

	Peers		no_entry;

	no_entry.add(2, {{3, 600}}).add(4, {{2, 1000}, {1, 1000}});
	EXPECT_FALSE(no_entry.collectable(kTombstone));
}

TEST(TombstoneCollectable, UnknownTimeAlwaysGoes)
{
	Peers		p;

	p.add(2, {}).add(4, {{3, 1}});
	EXPECT_TRUE(p.collectable(version(3, "n3", 500, 0, false)));
}

TEST(TombstoneCollectable, LocalDeleteNeedsEveryPeersEntryForThisNode)
{
	MmrVersion	local = version(kLocal, "n1", 500);
	Peers		p;

	p.add(2, {{kLocal, 500}}).add(3, {{kLocal, 499}});
	EXPECT_FALSE(p.collectable(local));
	p.horizons[1][0].commit_time = 501;
	EXPECT_TRUE(p.collectable(local));
}

TEST(TombstoneCollectable, EdgeCases)
{
	Peers		none;

	EXPECT_TRUE(none.collectable(kTombstone));	/* a node alone */
	EXPECT_FALSE(mmr_tombstone_collectable(nullptr, kLocal, nullptr, 0));
	EXPECT_FALSE(mmr_tombstone_collectable(&kTombstone, kLocal, nullptr, 2));

	/* A delete of no known node can never be shown seen. */
	Peers		p;

	p.add(2, {{3, 1000}});
	EXPECT_FALSE(p.collectable(version(MMR_NODE_UNKNOWN, "", 500)));

	/* This node in the list is skipped. */
	Peers		self;

	self.add(kLocal, {}).add(2, {{3, 500}});
	EXPECT_TRUE(self.collectable(kTombstone));
}

}							/* namespace */
