/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Real lcores with 2 LOGICAL sockets (DSLAB_TOPOLOGY=0:0,1:0,2:1,3:1, set in
 * test_main.cpp): lcores 0 (main) and 1 are socket 0, lcores 2 and 3 socket 1.
 *  - cross-socket frees go home (free_remote_node), and afterwards no
 *    lcore's sheaves hold an object of another socket (the sheaves are
 *    walked through the layout in dslab_pcs.h once every lcore stopped);
 *  - alloc_node on the other socket (alloc_node_remote);
 *  - a stress test: 4 lcores allocate, stamp, pass objects through rings to
 *    each other, verify and free; nothing is handed out twice while live
 *    and the in-use counts return to where they started.
 */
/* The C11 (__atomic acquire/release) variant of rte_ring's inline functions:
 * the same ring, and ThreadSanitizer sees the hand-off of objects through it
 * (the generic variant's volatile accesses and compiler barriers it cannot). */
#define RTE_USE_C11_MEM_MODEL 1

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include <rte_lcore.h>
#include <rte_ring.h>

#include <dslab.h>

#include "test_util.h"

namespace {

using namespace dslab_test;

constexpr unsigned kLcores = 4;

/*
 * Which LOGICAL socket an object belongs to, learnt independently of the
 * allocator's own bookkeeping: every object an lcore allocated with
 * dslab_alloc() is its socket's, and slab memory comes in 2 MiB chunks
 * (DSLAB_PM_SHIFT granules) of one socket each. So the granules of the
 * objects each socket's lcores received map granules to sockets; an object
 * never handed out (still in a sheaf) is placed by its granule.
 */
class SocketOracle {
public:
	void learn(const void *obj, int socket)
	{
		uintptr_t g = (uintptr_t)obj >> DSLAB_PM_SHIFT;
		auto [it, fresh] = map_.emplace(g, socket);
		if (!fresh && it->second != socket)
			conflicts_++;
	}
	/* -1: granule never seen. */
	int socket_of(const void *obj) const
	{
		auto it = map_.find((uintptr_t)obj >> DSLAB_PM_SHIFT);
		return it == map_.end() ? -1 : it->second;
	}
	unsigned conflicts() const { return conflicts_; }

private:
	std::unordered_map<uintptr_t, int> map_;
	unsigned conflicts_ = 0;
};

TEST(MultiLcore, TopologyIsTwoLogicalSockets)
{
	ASSERT_GE(rte_lcore_count(), kLcores);
	EXPECT_EQ(dslab_socket_count(), 2u);
	EXPECT_EQ(dslab_lcore_socket(0), 0);
	EXPECT_EQ(dslab_lcore_socket(1), 0);
	EXPECT_EQ(dslab_lcore_socket(2), 1);
	EXPECT_EQ(dslab_lcore_socket(3), 1);
	EXPECT_EQ(rte_get_main_lcore(), 0u);
}

TEST(MultiLcore, CrossSocketFreesGoHome)
{
	ASSERT_EQ(dslab_socket_count(), 2u);
	CachePtr cp = make_cache("ml_xsock", 128, 16, 4, 4);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	constexpr unsigned kN = 2000;
	static std::vector<void *> made[kLcores];
	for (auto &m : made)
		m.assign(kN, nullptr);
	std::atomic<int> allocated{0};
	std::atomic<uint64_t> bad{0};

	/* Each lcore L allocates kN objects and stamps them with L; once all
	 * have, it frees the first half of lcore (L+2)%4's objects (the other
	 * socket) and the second half of lcore L^1's (same socket, other lcore). */
	auto body = [&]() -> int {
		unsigned lc = rte_lcore_id();
		for (unsigned i = 0; i < kN; i++) {
			auto *p = static_cast<uint64_t *>(dslab_alloc(c, 0));
			if (p == nullptr) {
				bad++;
				continue;
			}
			p[0] = lc;
			p[1] = i;
			made[lc][i] = p;
		}
		allocated.fetch_add(1);
		wait_for(allocated, kLcores);
		unsigned cross = (lc + 2) % kLcores, same = lc ^ 1u;
		for (unsigned i = 0; i < kN / 2; i++) {
			auto *p = static_cast<uint64_t *>(made[cross][i]);
			if (p == nullptr || p[0] != cross || p[1] != i)
				bad++;
			dslab_free(c, p);
		}
		for (unsigned i = kN / 2; i < kN; i++) {
			auto *p = static_cast<uint64_t *>(made[same][i]);
			if (p == nullptr || p[0] != same || p[1] != i)
				bad++;
			dslab_free(c, p);
		}
		return 0;
	};
	struct dslab_cache_stats s0 = stats_of(c);
	run_on({0, 1, 2, 3}, body);
	EXPECT_EQ(bad.load(), 0u);

	struct dslab_cache_stats d = delta(stats_of(c), s0);
	expect_counters(d,
			{{"alloc_cpu_sheaf", kLcores * kN}, {"free_cpu_sheaf", kLcores * kN / 2},
			 {"free_remote_node", kLcores * kN / 2}, {"sheaf_swap", kAny}, {"barn_get", kAny},
			 {"barn_get_fail", kAny}, {"barn_put", kAny}, {"barn_put_fail", kAny},
			 {"sheaf_alloc", kAny}, {"sheaf_refill", kAny}, {"sheaf_flush", kAny},
			 {"alloc_slab", kAny}, {"free_slab", kAny}},
			"4 lcores, half of the frees across sockets");
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);

	SocketOracle oracle;
	for (unsigned lc = 0; lc < kLcores; lc++)
		for (void *p : made[lc])
			oracle.learn(p, dslab_lcore_socket(lc));
	EXPECT_EQ(oracle.conflicts(), 0u) << "a 2 MiB granule gave objects to both sockets";

	/* No lcore's sheaves hold another socket's object. */
	size_t walked = 0;
	for (unsigned lc = 0; lc < kLcores; lc++) {
		EXPECT_NE(c->pcs[lc].capacity, 0u) << "lcore " << lc << " used the cache";
		int sock = dslab_lcore_socket(lc);
		for (void *o : sheaf_objects(c, lc)) {
			walked++;
			int os = oracle.socket_of(o);
			EXPECT_NE(os, -1) << "lcore " << lc << ": object " << o << " of unknown socket";
			EXPECT_EQ(os, sock) << "lcore " << lc << " (socket " << sock << ") holds " << o
					    << " of socket " << os;
			/* The page map agrees (its tag is DSLAB_PM_VALID | socket). */
			EXPECT_EQ(dslab_pm_entry_(o) & DSLAB_PM_TAG_MASK, (uintptr_t)DSLAB_PM_TAG(sock)) << o;
		}
	}
	EXPECT_GT(walked, 0u) << "the walk saw no object at all";

	/* alloc_node on the other socket, from the main lcore (socket 0). */
	void *far = nullptr;
	step(c, "alloc_node(1) on socket 0: that socket's slabs", {{"alloc_node_remote", 1}},
	     [&] { ASSERT_NE(far = dslab_alloc_node(c, 0, 1), nullptr); });
	EXPECT_EQ(oracle.socket_of(far), 1);
	step(c, "freed on socket 0: sent home", {{"free_remote_node", 1}}, [&] { dslab_free(c, far); });
	step(c, "alloc_node(0) on socket 0: the local sheaves",
	     {{"alloc_cpu_sheaf", 1}, {"free_cpu_sheaf", 1}, {"sheaf_swap", kAny}, {"barn_get", kAny},
	      {"barn_get_fail", kAny}, {"barn_put", kAny}, {"barn_put_fail", kAny}, {"sheaf_alloc", kAny},
	      {"sheaf_refill", kAny}, {"sheaf_flush", kAny}},
	     [&] {
		     void *near = dslab_alloc_node(c, 0, 0);
		     ASSERT_NE(near, nullptr);
		     EXPECT_EQ(oracle.socket_of(near), 0);
		     dslab_free(c, near);
	     });

	/* And from lcore 2 (socket 1) for socket 0, kmalloc included. */
	dslab_cache *k256 = dslab_cache_lookup("kmalloc-256");
	ASSERT_NE(k256, nullptr);
	struct dslab_cache_stats c0 = stats_of(c), k0 = stats_of(k256);
	void *from2 = nullptr, *k_from2 = nullptr;
	auto on2 = [&]() -> int {
		from2 = dslab_alloc_node(c, 0, 0);
		k_from2 = dslab_kmalloc_node(200, 0, 0);
		return 0;
	};
	run_on({2}, on2);
	ASSERT_NE(from2, nullptr);
	ASSERT_NE(k_from2, nullptr);
	EXPECT_EQ(oracle.socket_of(from2), 0);
	expect_counters(delta(stats_of(c), c0), {{"alloc_node_remote", 1}}, "alloc_node(0) on lcore 2");
	expect_counters(delta(stats_of(k256), k0), {{"alloc_node_remote", 1}, {"alloc_slab", kAny}},
			"kmalloc_node(0) on lcore 2");
	/* Freed on lcore 3 (socket 1): home to socket 0. */
	c0 = stats_of(c);
	k0 = stats_of(k256);
	auto on3 = [&]() -> int {
		dslab_free(c, from2);
		dslab_kfree(k_from2);
		return 0;
	};
	run_on({3}, on3);
	expect_counters(delta(stats_of(c), c0), {{"free_remote_node", 1}}, "free on lcore 3");
	/* (lcore 3 may set its kmalloc-256 sheaves up on the way) */
	expect_counters(delta(stats_of(k256), k0),
			{{"free_remote_node", 1}, {"free_slab", kAny}, {"sheaf_alloc", kAny}}, "kfree on lcore 3");
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);

	LogCapture log;
	cp.reset(); /* flushes every lcore's sheaves */
	EXPECT_EQ(log.text().find("leak"), std::string::npos) << log.text();
}

/* ---- stress ---------------------------------------------------------- */

struct Hdr {
	uint64_t owner;  /* lcore that allocated it */
	uint64_t seq;    /* owner's sequence number */
	uint64_t size;   /* bytes stamped (cache object: the object size) */
	uint64_t kind;   /* 1: cache object, 2: kmalloc */
};

uint8_t fill_byte(const Hdr *h, size_t i) { return (uint8_t)(h->owner * 31 + h->seq + i); }

void stamp(Hdr *h, unsigned lc, uint64_t seq, size_t size, uint64_t kind)
{
	h->owner = lc;
	h->seq = seq;
	h->size = size;
	h->kind = kind;
	auto *b = reinterpret_cast<uint8_t *>(h);
	for (size_t i = sizeof(Hdr); i < size; i++)
		b[i] = fill_byte(h, i);
}

bool intact(const Hdr *h)
{
	if (h->owner >= kLcores || (h->kind != 1 && h->kind != 2) || h->size < sizeof(Hdr))
		return false;
	auto *b = reinterpret_cast<const uint8_t *>(h);
	for (size_t i = sizeof(Hdr); i < h->size; i++)
		if (b[i] != fill_byte(h, i))
			return false;
	return true;
}

/* Live objects, sharded to keep the lcores from serialising on one lock. */
class LiveSet {
public:
	bool insert(void *p)
	{
		Shard &s = shard(p);
		std::lock_guard<std::mutex> g(s.mu);
		return s.set.insert(p).second;
	}
	bool erase(void *p)
	{
		Shard &s = shard(p);
		std::lock_guard<std::mutex> g(s.mu);
		return s.set.erase(p) == 1;
	}
	size_t size()
	{
		size_t n = 0;
		for (auto &s : shards_) {
			std::lock_guard<std::mutex> g(s.mu);
			n += s.set.size();
		}
		return n;
	}

private:
	struct Shard {
		std::mutex mu;
		std::unordered_set<void *> set;
	};
	Shard &shard(void *p) { return shards_[((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 58]; }
	Shard shards_[64];
};

TEST(MultiLcore, StressThroughRings)
{
	CachePtr cp = make_cache("ml_stress", 96, 32, 4, 4);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	struct Rings {
		rte_ring *r[kLcores] = {};
		~Rings()
		{
			for (auto *x : r)
				rte_ring_free(x);
		}
	} rings;
	for (unsigned i = 0; i < kLcores; i++) {
		std::string n = "ml_stress" + std::to_string(i);
		rings.r[i] = rte_ring_create(n.c_str(), 512, SOCKET_ID_ANY, RING_F_SC_DEQ);
		ASSERT_NE(rings.r[i], nullptr) << rte_errno;
	}
	const uint64_t kmalloc_before = kmalloc_in_use();
	const uint64_t in_use_before = stats_of(c).objects_in_use;

	LiveSet live;
	std::atomic<uint64_t> corrupt{0}, dup{0}, not_live{0}, alloc_fail{0}, made{0}, freed{0};
	std::atomic<int> done{0};
	constexpr unsigned kMaxIters = 20000;
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);

	auto release = [&](void *p) {
		auto *h = static_cast<Hdr *>(p);
		if (!intact(h))
			corrupt++;
		if (!live.erase(p)) /* before the free: then it may be handed out again */
			not_live++;
		if (h->kind == 1)
			dslab_free(c, p);
		else
			dslab_kfree(p);
		freed++;
	};
	auto body = [&]() -> int {
		unsigned lc = rte_lcore_id();
		uint64_t seq = 0, rnd = 0x12345678u * (lc + 1);
		auto drain = [&] {
			void *in[32];
			unsigned n;
			while ((n = rte_ring_sc_dequeue_burst(rings.r[lc], in, 32, nullptr)) != 0)
				for (unsigned i = 0; i < n; i++)
					release(in[i]);
		};
		for (unsigned it = 0; it < kMaxIters; it++) {
			if ((it & 255) == 0 && it != 0 && std::chrono::steady_clock::now() > deadline)
				break;
			rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
			size_t ksz = sizeof(Hdr) + (rnd >> 33) % 2000;
			void *objs[2] = {dslab_alloc(c, 0), dslab_kmalloc(ksz, 0)};
			for (int k = 0; k < 2; k++) {
				if (objs[k] == nullptr) {
					alloc_fail++;
					continue;
				}
				if (!live.insert(objs[k]))
					dup++;
				stamp(static_cast<Hdr *>(objs[k]), lc, ++seq, k == 0 ? dslab_cache_obj_size(c) : ksz,
				      k == 0 ? 1 : 2);
				made++;
			}
			/* The cache object travels to another lcore (round robin over
			 * both sockets); the kmalloc one every other time. */
			unsigned to = (lc + 1 + it % (kLcores - 1)) % kLcores;
			for (int k = 0; k < 2; k++) {
				if (objs[k] == nullptr)
					continue;
				if (k == 1 && (it & 1)) {
					release(objs[k]);
					continue;
				}
				while (rte_ring_mp_enqueue(rings.r[to], objs[k]) != 0)
					drain(); /* full: make progress on ours meanwhile */
			}
			drain();
		}
		done.fetch_add(1);
		while (done.load() < (int)kLcores) {
			drain();
			sched_yield();
		}
		drain(); /* every producer finished: this empties the ring */
		return 0;
	};
	run_on({0, 1, 2, 3}, body);

	for (unsigned i = 0; i < kLcores; i++)
		EXPECT_EQ(rte_ring_count(rings.r[i]), 0u) << "ring " << i;
	EXPECT_EQ(corrupt.load(), 0u) << "an object's contents changed while it was live";
	EXPECT_EQ(dup.load(), 0u) << "an object was handed out while live";
	EXPECT_EQ(not_live.load(), 0u);
	EXPECT_EQ(alloc_fail.load(), 0u);
	EXPECT_GT(made.load(), 0u);
	EXPECT_EQ(freed.load(), made.load());
	EXPECT_EQ(live.size(), 0u);
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.objects_in_use, in_use_before);
	EXPECT_EQ(kmalloc_in_use(), kmalloc_before);
	EXPECT_GT(s.free_remote_node, 0u) << "objects crossed sockets";
	EXPECT_GT(s.free_cpu_sheaf, 0u);
	EXPECT_EQ(s.alloc_slowpath + s.free_slowpath, 0u);

	/* Sheaves hold only their own socket's objects after all that. */
	for (unsigned lc = 0; lc < kLcores; lc++)
		for (void *o : sheaf_objects(c, lc))
			EXPECT_EQ(dslab_pm_entry_(o) & DSLAB_PM_TAG_MASK,
				  (uintptr_t)DSLAB_PM_TAG(dslab_lcore_socket(lc)))
				<< "lcore " << lc << " holds " << o;
	printf("[ stress   ] %" PRIu64 " objects through 4 lcores\n", made.load());
}

/*
 * No fast path counts its allocations: the count is derived from the free
 * counter and main's size (dslab_pcs.h, top). Read while a real lcore
 * allocates and frees through every path that moves main (4-object sheaves:
 * a slow path every few calls; bursts; nolock frees into the far end, moved
 * down by the next slow path), it never goes back, never runs ahead of the
 * allocations made (bar those of the call in flight), and is exact after.
 */
TEST(MultiLcore, AllocCountReadWhileAnLcoreAllocates)
{
	CachePtr cp = make_cache("ml_count", 64, 4, 2, 2);
	dslab_cache *c = cp.get();
	ASSERT_NE(c, nullptr);
	constexpr unsigned kMaxCall = 5; /* objects in one call */
	const struct dslab_cache_stats s0 = stats_of(c);
	std::atomic<uint64_t> made{0};
	std::atomic<bool> done{false};
	std::atomic<unsigned> fails{0};
	/* Reads completed: every 250000 calls the worker waits for one more,
	 * so that reads fall inside the run however the two threads are
	 * scheduled (valgrind runs one thread at a time). */
	std::atomic<uint64_t> reads_done{0};

	auto worker = [&]() -> int {
		void *objs[kMaxCall];
		uint64_t n = 0, seen = 0;
		for (unsigned i = 0; i < 2000000; i++) {
			if (i % 250000 == 0) {
				while (reads_done.load(std::memory_order_acquire) == seen)
					rte_pause();
				seen = reads_done.load(std::memory_order_acquire);
			}
			const unsigned k = 1 + i % kMaxCall;
			if (i % 3 == 0) {
				if (dslab_alloc_bulk(c, 0, k, objs) != k) {
					fails++;
					break;
				}
			} else {
				for (unsigned j = 0; j < k; j++)
					if ((objs[j] = dslab_alloc(c, 0)) == nullptr)
						fails++;
			}
			n += k;
			made.store(n, std::memory_order_release);
			if (i % 7 == 0) {
				dslab_kfree_nolock(objs[0]);
				dslab_free_bulk(c, k - 1, objs + 1);
			} else if (i % 2 == 0) {
				dslab_free_bulk(c, k, objs);
			} else {
				for (unsigned j = 0; j < k; j++)
					dslab_free(c, objs[j]);
			}
		}
		done.store(true, std::memory_order_release);
		return 0;
	};
	ASSERT_EQ(rte_eal_remote_launch([](void *a) { return (*static_cast<decltype(worker) *>(a))(); },
					&worker, 1),
		  0);
	uint64_t prev = 0, reads = 0, back = 0, ahead = 0;
	while (!done.load(std::memory_order_acquire)) {
		const uint64_t a = stats_of(c).alloc_cpu_sheaf - s0.alloc_cpu_sheaf;
		const uint64_t m = made.load(std::memory_order_acquire);
		back += a < prev;
		ahead += a > m + kMaxCall;
		prev = a;
		reads++;
		reads_done.store(reads, std::memory_order_release);
	}
	rte_eal_wait_lcore(1);
	EXPECT_EQ(fails.load(), 0u);
	EXPECT_GE(reads, 8u);
	EXPECT_EQ(back, 0u) << "the count went back, in " << reads << " reads";
	EXPECT_EQ(ahead, 0u) << "the count ran ahead of the allocations, in " << reads << " reads";
	const struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.alloc_cpu_sheaf - s0.alloc_cpu_sheaf, made.load());
	EXPECT_EQ(lib_allocs(s) - lib_allocs(s0), made.load());
	EXPECT_EQ(s.objects_in_use, s0.objects_in_use);
	EXPECT_GT(s.sheaf_refill + s.barn_get + s.sheaf_swap - s0.sheaf_refill - s0.barn_get - s0.sheaf_swap,
		  100u)
		<< "the slow paths ran";
	EXPECT_GT(s.free_nolock, s0.free_nolock);
	printf("[ count    ] %" PRIu64 " reads while %" PRIu64 " objects were allocated\n", reads,
	       made.load());
}

/* The two states a reader can catch that the run above seldom shows,
 * made by hand on this lcore's pcs (dslab_pcs.h): a free whose main_size
 * store is seen but not yet its counter's, and a slow path in the middle of
 * moving alloc_base (main_seq odd). Neither may change the count read. */
TEST(MultiLcore, AllocCountMidFreeAndMidSlowPath)
{
	CachePtr cp = make_cache("ml_count_mid", 64, 8);
	dslab_cache *c = cp.get();
	ASSERT_NE(c, nullptr);
	const struct dslab_cache_stats s0 = stats_of(c);
	void *o[4];
	for (void *&x : o)
		ASSERT_NE(x = dslab_alloc(c, 0), nullptr);
	dslab_free(c, o[0]);
	const uint64_t a = stats_of(c).alloc_cpu_sheaf;
	EXPECT_EQ(a - s0.alloc_cpu_sheaf, 4u);

	dslab_pcs *p = &c->pcs[rte_lcore_id()];
	ASSERT_LT(p->main_size + 1, p->main_top);
	p->main_objs[p->main_size] = o[1];
	p->main_size++; /* the free's first store, */
	EXPECT_EQ(stats_of(c).alloc_cpu_sheaf, a) << "a free in flight took an allocation back";
	p->free_cpu_sheaf++; /* and its second */
	EXPECT_EQ(stats_of(c).alloc_cpu_sheaf, a);
	p->free_cpu_sheaf--; /* undone: o[1] is freed for real below */
	p->main_size--;

	p->main_seq++;
	p->alloc_base += 100;
	EXPECT_EQ(stats_of(c).alloc_cpu_sheaf, a) << "read while the slow path was half done";
	p->alloc_base -= 100;
	p->main_seq++;

	for (int i = 1; i < 4; i++)
		dslab_free(c, o[i]);
	const struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.alloc_cpu_sheaf, a);
	EXPECT_EQ(s.free_cpu_sheaf - s0.free_cpu_sheaf, 4u);
	EXPECT_EQ(s.objects_in_use, s0.objects_in_use);
}

} // namespace
