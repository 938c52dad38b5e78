/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * kmalloc: every size from 1 to 8192 and a sample up to
 * DSLAB_KMALLOC_MAX_SIZE and above it (large regions); ksize, kzalloc,
 * kmalloc_node on LOGICAL sockets 0 and 1, kvmalloc, kfree and ksize of
 * cache objects. Runs on the main lcore (logical socket 0).
 */
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <dslab.h>

#include "test_util.h"

namespace {

using namespace dslab_test;

unsigned char pattern(size_t n, size_t i) { return (unsigned char)(n * 7 + i * 13 + 1); }

/* The size class cache that serves kmalloc(n) (its ksize names it). */
dslab_cache *class_cache(size_t n)
{
	void *p = dslab_kmalloc(n, 0);
	size_t ks = dslab_ksize(p);
	dslab_kfree(p);
	std::string name = "kmalloc-" + std::to_string(ks);
	return dslab_cache_lookup(name.c_str());
}

TEST(Kmalloc, EverySizeUpTo8192)
{
	/* All live at once, each filled: no overlap, all of it writable. */
	std::vector<std::pair<unsigned char *, size_t>> v;
	v.reserve(8192);
	for (size_t n = 1; n <= 8192; n++) {
		auto *p = static_cast<unsigned char *>(dslab_kmalloc(n, 0));
		ASSERT_NE(p, nullptr) << n;
		size_t ks = dslab_ksize(p);
		ASSERT_GE(ks, n) << n;
		ASSERT_LE(ks, (size_t)DSLAB_KMALLOC_MAX_SIZE) << "size " << n << " is a size class";
		ASSERT_NE(class_cache(n), nullptr) << "ksize " << ks << " of size " << n << " names a class";
		for (size_t i = 0; i < n; i++)
			p[i] = pattern(n, i);
		v.emplace_back(p, n);
	}
	std::vector<std::pair<unsigned char *, size_t>> sorted = v;
	std::sort(sorted.begin(), sorted.end());
	for (size_t i = 1; i < sorted.size(); i++)
		ASSERT_GE((size_t)(sorted[i].first - sorted[i - 1].first), sorted[i - 1].second)
			<< "overlap";
	for (auto [p, n] : v) {
		for (size_t i = 0; i < n; i++)
			ASSERT_EQ(p[i], pattern(n, i)) << "size " << n << " byte " << i;
		dslab_kfree(p);
	}
}

TEST(Kmalloc, LargerSizesAndLargeRegions)
{
	/* Every class boundary up to the largest class. */
	std::vector<size_t> sizes;
	for (size_t s : {8192ul, 12288ul, 16384ul, 24576ul, 32768ul})
		for (size_t d : {0ul, 1ul})
			if (s - d > 8192)
				sizes.push_back(s - d);
	for (size_t s = 8193; s <= DSLAB_KMALLOC_MAX_SIZE; s += 1531)
		sizes.push_back(s);
	sizes.push_back(DSLAB_KMALLOC_MAX_SIZE);
	for (size_t n : sizes) {
		uint64_t in_use = kmalloc_in_use();
		auto *p = static_cast<unsigned char *>(dslab_kmalloc(n, 0));
		ASSERT_NE(p, nullptr) << n;
		EXPECT_GE(dslab_ksize(p), n);
		EXPECT_LE(dslab_ksize(p), (size_t)DSLAB_KMALLOC_MAX_SIZE);
		EXPECT_EQ(kmalloc_in_use(), in_use + 1) << n << " comes from a size class";
		memset(p, 0x42, n);
		dslab_kfree(p);
		EXPECT_EQ(kmalloc_in_use(), in_use);
	}
	/* Above the largest class: a large region, in no size class. */
	for (size_t n : {(size_t)DSLAB_KMALLOC_MAX_SIZE + 1, 40000ul, 100000ul, 2ul << 20, (5ul << 20) + 3}) {
		uint64_t in_use = kmalloc_in_use();
		auto *p = static_cast<unsigned char *>(dslab_kmalloc(n, 0));
		ASSERT_NE(p, nullptr) << n;
		EXPECT_GE(dslab_ksize(p), n);
		EXPECT_EQ(kmalloc_in_use(), in_use) << n << " is a large region";
		memset(p, 0x42, n);
		EXPECT_EQ(p[n - 1], 0x42);
		dslab_kfree(p);
	}
}

TEST(Kmalloc, KzallocZeroesDirtiedMemory)
{
	for (size_t n : {1ul, 8ul, 100ul, 1000ul, 4000ul, 8192ul, 30000ul, 50000ul, 3ul << 20}) {
		/* Dirty objects of this class and free them, so that kzalloc
		 * gets memory that was written. */
		std::vector<void *> d(20);
		for (auto &p : d) {
			ASSERT_NE(p = dslab_kmalloc(n, 0), nullptr);
			/* the whole object, or the asked size of a large region */
			memset(p, 0xee, n > DSLAB_KMALLOC_MAX_SIZE ? n : dslab_ksize(p));
		}
		for (void *p : d)
			dslab_kfree(p);
		for (auto &p : d) {
			auto *z = static_cast<unsigned char *>(dslab_kzalloc(n, 0));
			ASSERT_NE(z, nullptr);
			for (size_t i = 0; i < n; i++)
				ASSERT_EQ(z[i], 0) << "kzalloc(" << n << ") byte " << i;
			memset(z, 0xee, n);
			p = z;
		}
		for (void *p : d)
			dslab_kfree(p);
		auto *z = static_cast<unsigned char *>(dslab_kmalloc_node(n, DSLAB_F_ZERO, 1));
		ASSERT_NE(z, nullptr);
		for (size_t i = 0; i < n; i++)
			ASSERT_EQ(z[i], 0) << "kmalloc_node(" << n << ", ZERO, 1) byte " << i;
		dslab_kfree(z);
	}
}

TEST(Kmalloc, NodeOnLogicalSockets)
{
	dslab_cache *k256 = dslab_cache_lookup("kmalloc-256");
	ASSERT_NE(k256, nullptr);
	ASSERT_EQ(class_cache(200), k256);
	ASSERT_EQ(rte_lcore_id(), 0u);
	ASSERT_EQ(dslab_lcore_socket(0), 0);

	void *p = nullptr;
	step(k256, "kmalloc_node on the caller's socket 0: its sheaves",
	     {{"alloc_cpu_sheaf", 1}, {"sheaf_swap", kAny}, {"barn_get", kAny}, {"barn_get_fail", kAny},
	      {"barn_put", kAny}, {"sheaf_alloc", kAny}, {"sheaf_refill", kAny}, {"alloc_slab", kAny}},
	     [&] { ASSERT_NE(p = dslab_kmalloc_node(200, 0, 0), nullptr); });
	step(k256, "kfree of it", {{"free_cpu_sheaf", 1}, {"sheaf_swap", kAny}, {"barn_get", kAny},
				   {"barn_get_fail", kAny}, {"barn_put", kAny}, {"barn_put_fail", kAny},
				   {"sheaf_alloc", kAny}, {"sheaf_flush", kAny}, {"free_slab", kAny}},
	     [&] { dslab_kfree(p); });
	step(k256, "kmalloc_node on logical socket 1: from its slabs",
	     {{"alloc_node_remote", 1}, {"alloc_slab", kAny}},
	     [&] { ASSERT_NE(p = dslab_kmalloc_node(200, 0, 1), nullptr); });
	memset(p, 1, 200);
	step(k256, "kfree of a socket-1 object on socket 0: sent home",
	     {{"free_remote_node", 1}, {"free_slab", kAny}}, [&] { dslab_kfree(p); });
	step(k256, "kmalloc_node(-1): the caller's socket",
	     {{"alloc_cpu_sheaf", 1}, {"free_cpu_sheaf", 1}, {"sheaf_swap", kAny}, {"barn_get", kAny},
	      {"barn_get_fail", kAny}, {"barn_put", kAny}, {"barn_put_fail", kAny}, {"sheaf_alloc", kAny},
	      {"sheaf_flush", kAny}, {"sheaf_refill", kAny}, {"alloc_slab", kAny}, {"free_slab", kAny}},
	     [&] {
		     ASSERT_NE(p = dslab_kmalloc_node(200, 0, SOCKET_ID_ANY), nullptr);
		     dslab_kfree(p);
	     });
	/* Large regions on either socket. */
	for (int s : {0, 1}) {
		auto *q = static_cast<char *>(dslab_kmalloc_node(100000, 0, s));
		ASSERT_NE(q, nullptr) << s;
		EXPECT_GE(dslab_ksize(q), 100000u);
		memset(q, 2, 100000);
		dslab_kfree(q);
	}
	rte_errno = 0;
	EXPECT_EQ(dslab_kmalloc_node(200, 0, 2), nullptr) << "only 2 logical sockets";
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_kmalloc_node(100000, 0, 7), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
}

TEST(Kmalloc, Kvmalloc)
{
	for (size_t n : {1ul << 20, 64ul << 20}) {
		auto *p = static_cast<unsigned char *>(dslab_kvmalloc(n, 0));
		ASSERT_NE(p, nullptr) << n;
		EXPECT_GE(dslab_ksize(p), n);
		for (size_t i = 0; i < n; i += 4096)
			p[i] = (unsigned char)(i >> 12);
		p[n - 1] = 0x99;
		for (size_t i = 0; i < n; i += 4096)
			ASSERT_EQ(p[i], (unsigned char)(i >> 12));
		EXPECT_EQ(p[n - 1], 0x99);
		dslab_kvfree(p);
	}
	/* Small kvmalloc comes from the size classes; kvfree frees it. */
	uint64_t in_use = kmalloc_in_use();
	void *s = dslab_kvmalloc(100, 0);
	ASSERT_NE(s, nullptr);
	EXPECT_EQ(kmalloc_in_use(), in_use + 1);
	dslab_kvfree(s);
	EXPECT_EQ(kmalloc_in_use(), in_use);
	auto *z = static_cast<unsigned char *>(dslab_kvmalloc(3u << 20, DSLAB_F_ZERO));
	ASSERT_NE(z, nullptr);
	for (size_t i = 0; i < (3u << 20); i += 511)
		ASSERT_EQ(z[i], 0);
	dslab_kvfree(z);
}

TEST(Kmalloc, KfreeAndKsizeOfCacheObjects)
{
	CachePtr cp = make_cache("kmalloc_cacheobj", 72, 16, 2, 2);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	void *o = dslab_alloc(c, 0);
	ASSERT_NE(o, nullptr);
	EXPECT_EQ(dslab_ksize(o), dslab_cache_obj_size(c));
	EXPECT_EQ(dslab_ksize(static_cast<char *>(o) + 8), 0u) << "inside an object: not handed out";
	uint64_t kin = kmalloc_in_use();
	step(c, "kfree finds the object's cache from its address", {{"free_cpu_sheaf", 1}},
	     [&] { dslab_kfree(o); });
	EXPECT_EQ(kmalloc_in_use(), kin) << "no kmalloc class involved";
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);

	void *far = dslab_alloc_node(c, 0, 1);
	ASSERT_NE(far, nullptr);
	EXPECT_EQ(dslab_ksize(far), dslab_cache_obj_size(c));
	step(c, "kfree of a socket-1 object from socket 0", {{"free_remote_node", 1}}, [&] { dslab_kfree(far); });

	CachePtr np = make_cache("kmalloc_nosheaf", 72, 0);
	ASSERT_TRUE(np);
	void *n = dslab_alloc(np.get(), 0);
	ASSERT_NE(n, nullptr);
	step(np.get(), "kfree to a cache without sheaves", {{"free_slowpath", 1}}, [&] { dslab_kfree(n); });
	EXPECT_EQ(stats_of(np.get()).objects_in_use, 0u);
}

} // namespace
