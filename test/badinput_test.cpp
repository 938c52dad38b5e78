/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Bad input: NULL is a no-op where documented, pointers dslab never handed
 * out are reported and not followed (no counter moves), bad arguments give
 * NULL / -EINVAL with rte_errno; double frees in checked builds.
 * (Out of memory is fault_test.cpp's.)
 */
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <dslab.h>

#include "test_util.h"

namespace {

using namespace dslab_test;

void expect_all_unchanged(const std::map<std::string, struct dslab_cache_stats> &before, const char *where)
{
	auto after = all_stats();
	ASSERT_EQ(after.size(), before.size()) << where;
	for (auto &[name, s] : before) {
		auto it = after.find(name);
		ASSERT_NE(it, after.end()) << name;
		expect_same_counters(it->second, s, std::string(where) + ", cache " + name);
	}
}

TEST(BadInput, NullIsANoOp)
{
	CachePtr cp = make_cache("bad_null", 64, 8);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	dslab_free(c, dslab_alloc(c, 0)); /* the lcore's sheaves are set up */
	auto before = all_stats();
	LogCapture log;
	dslab_free(c, nullptr);
	dslab_kfree(nullptr);
	dslab_kvfree(nullptr);
	dslab_free_bulk(c, 0, nullptr);
	void *nulls[4] = {};
	dslab_free_bulk(c, 4, nulls);
	dslab_return_sheaf(c, nullptr);
	dslab_cache_destroy(nullptr);
	EXPECT_EQ(dslab_ksize(nullptr), 0u);
	expect_all_unchanged(before, "NULL frees");
	EXPECT_EQ(log.text(), "") << "NULL is not reported";
}

TEST(BadInput, ForeignPointersReportedNotFollowed)
{
	CachePtr cp = make_cache("bad_foreign", 64, 8);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	dslab_free(c, dslab_alloc(c, 0));
	int on_stack = 0;
	static int in_data = 0;
	void *from_malloc = malloc(64);
	ASSERT_NE(from_malloc, nullptr);
	memset(from_malloc, 0x11, 64);

	auto before = all_stats();
	LogCapture log;
	dslab_kfree(&on_stack);
	dslab_kfree(&in_data);
	dslab_kfree(from_malloc);
	dslab_kvfree(from_malloc);
	dslab_free(c, from_malloc);
	dslab_free(c, &on_stack);
	EXPECT_EQ(dslab_ksize(from_malloc), 0u);
	EXPECT_EQ(dslab_ksize(&in_data), 0u);
	std::string t = log.text();
	expect_all_unchanged(before, "foreign frees");
	for (const void *p : {(const void *)&on_stack, (const void *)&in_data, (const void *)from_malloc})
		EXPECT_NE(t.find(ptr_str(p)), std::string::npos) << ptr_str(p) << " not reported in:\n" << t;
	EXPECT_EQ(static_cast<unsigned char *>(from_malloc)[63], 0x11) << "not followed";
	free(from_malloc); /* still malloc's */

	/* Inside a large region: reported, the region stays. */
	auto *big = static_cast<char *>(dslab_kvmalloc(4u << 20, 0));
	ASSERT_NE(big, nullptr);
	LogCapture log2;
	dslab_kvfree(big + 4096);
	EXPECT_NE(log2.text().find(ptr_str(big + 4096)), std::string::npos) << log2.text();
	memset(big, 1, 4u << 20); /* still mapped */
	EXPECT_GE(dslab_ksize(big), 4u << 20);
	dslab_kvfree(big);

	/* A NULL cache: reported, the object stays allocated. */
	void *o = dslab_alloc(c, 0);
	ASSERT_NE(o, nullptr);
	LogCapture log3;
	dslab_free(nullptr, o);
	EXPECT_NE(log3.text(), "");
	EXPECT_EQ(stats_of(c).objects_in_use, 1u);
	dslab_free(c, o);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
}

TEST(BadInput, CreateArguments)
{
	auto einval = [](const char *name, size_t size, const dslab_cache_args *a, const char *what) {
		rte_errno = 0;
		dslab_cache *c = dslab_cache_create(name, size, a);
		EXPECT_EQ(c, nullptr) << what;
		EXPECT_EQ(rte_errno, EINVAL) << what;
		dslab_cache_destroy(c);
	};
	einval("bad_c", 0, nullptr, "size 0");
	einval("bad_c", DSLAB_CACHE_MAX_OBJ_SIZE + 1, nullptr, "size above DSLAB_CACHE_MAX_OBJ_SIZE");
	einval("bad_c", SIZE_MAX, nullptr, "size SIZE_MAX");
	einval(nullptr, 64, nullptr, "NULL name");
	einval("", 64, nullptr, "empty name");
	einval(std::string(DSLAB_NAME_SIZE, 'n').c_str(), 64, nullptr, "name of DSLAB_NAME_SIZE chars");
	einval(std::string(200, 'n').c_str(), 64, nullptr, "name of 200 chars");
	for (size_t align : {3ul, 12ul, 48ul, 100ul, 8192ul}) {
		dslab_cache_args a{};
		a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_AUTO;
		a.align = align;
		einval("bad_c", 64, &a, ("align " + std::to_string(align)).c_str());
	}
	dslab_cache_args a{};
	a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_MAX + 1;
	einval("bad_c", 64, &a, "sheaf capacity above DSLAB_SHEAF_CAPACITY_MAX");
	a = dslab_cache_args{};
	a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_AUTO;
	a.reserved[2] = 1;
	einval("bad_c", 64, &a, "reserved field not zero");
	EXPECT_EQ(dslab_cache_lookup("bad_c"), nullptr);

	/* The limits themselves are fine. */
	a = dslab_cache_args{};
	a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_MAX;
	a.align = 4096;
	CachePtr ok(dslab_cache_create("bad_c", 1, &a));
	EXPECT_NE(ok.get(), nullptr);

	/* A kmalloc size class is not the caller's to destroy. */
	dslab_cache *k = dslab_cache_lookup("kmalloc-64");
	ASSERT_NE(k, nullptr);
	LogCapture log;
	dslab_cache_destroy(k);
	EXPECT_EQ(dslab_cache_lookup("kmalloc-64"), k);
	void *p = dslab_kmalloc(64, 0);
	ASSERT_NE(p, nullptr);
	dslab_kfree(p);
}

TEST(BadInput, OtherArguments)
{
	CachePtr cp = make_cache("bad_args", 64, 8);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	struct dslab_cache_stats s;

	rte_errno = 0;
	EXPECT_EQ(dslab_kmalloc(0, 0), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_kzalloc(0, 0), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_kmalloc_node(0, 0, 0), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_kvmalloc(0, 0), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_kmalloc(SIZE_MAX, 0), nullptr);
	EXPECT_EQ(rte_errno, ENOMEM);
	rte_errno = 0;
	EXPECT_EQ(dslab_kvmalloc(SIZE_MAX - 4096, 0), nullptr);
	EXPECT_EQ(rte_errno, ENOMEM);
	rte_errno = 0;
	EXPECT_EQ(dslab_kvmalloc((size_t)1 << 62, 0), nullptr) << "no such memory";
	EXPECT_EQ(rte_errno, ENOMEM);

	rte_errno = 0;
	EXPECT_EQ(dslab_alloc(nullptr, 0), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	void *v[4];
	rte_errno = 0;
	EXPECT_EQ(dslab_alloc_bulk(nullptr, 0, 4, v), 0u);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_alloc_node(nullptr, 0, 0), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_alloc_node(c, 0, 2), nullptr) << "2 logical sockets: 0 and 1";
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_alloc_node(c, 0, 9), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_prefill_sheaf(nullptr, 0, 4), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_alloc_from_sheaf(c, 0, nullptr), nullptr);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_refill_sheaf(c, 0, nullptr, 4), -EINVAL);
	EXPECT_EQ(rte_errno, EINVAL);

	rte_errno = 0;
	EXPECT_EQ(dslab_cache_stats(nullptr, &s), -EINVAL);
	EXPECT_EQ(rte_errno, EINVAL);
	rte_errno = 0;
	EXPECT_EQ(dslab_cache_stats(c, nullptr), -EINVAL);
	EXPECT_EQ(rte_errno, EINVAL);
	EXPECT_EQ(dslab_cache_lookup(nullptr), nullptr);
	EXPECT_EQ(dslab_cache_shrink(nullptr), 0u);
	EXPECT_EQ(dslab_cache_walk(nullptr, nullptr), -EINVAL);

	rte_errno = 0;
	EXPECT_EQ(dslab_init(nullptr), -EALREADY);
	EXPECT_EQ(rte_errno, EALREADY);
	rte_errno = 0;
	EXPECT_EQ(dslab_lcore_socket(RTE_MAX_LCORE), -1) << "dslab.h: the socket id, or -1";
	EXPECT_EQ(rte_errno, EINVAL);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
}

/* Checked builds: a double free is reported and not followed, so the
 * object is not handed out twice; so are wrong-cache and interior frees. */
TEST(BadInput, DoubleFreeInCheckedBuilds)
{
#if DSLAB_CHECKED
	CachePtr cp = make_cache("bad_double", 64, 8, 2, 2);
	CachePtr dp = make_cache("bad_other", 64, 8, 2, 2);
	ASSERT_TRUE(cp);
	ASSERT_TRUE(dp);
	dslab_cache *c = cp.get(), *d = dp.get();
	LogCapture log;
	void *p = dslab_alloc(c, 0);
	ASSERT_NE(p, nullptr);
	dslab_free(c, p);
	struct dslab_cache_stats s0 = stats_of(c);
	dslab_free(c, p); /* again */
	std::string t = log.text();
	EXPECT_NE(t.find("double free"), std::string::npos) << t;
	EXPECT_NE(t.find(ptr_str(p)), std::string::npos) << t;
	EXPECT_NE(t.find("bad_double"), std::string::npos) << t;
	expect_counters(delta(stats_of(c), s0), {}, "a double free moves no counter");
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);

	/* Twice the sheaf's capacity and more: p comes back at most once. */
	std::vector<void *> v(40);
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 40, v.data()), 40u);
	std::set<void *> u(v.begin(), v.end());
	EXPECT_EQ(u.size(), 40u) << "an object was handed out twice";
	dslab_kfree(v[0]);
	dslab_kfree(v[0]); /* double kfree */
	EXPECT_NE(log.text().find("double free of " + ptr_str(v[0])), std::string::npos) << log.text();

	dslab_free(d, v[1]); /* wrong cache: reported, not freed */
	EXPECT_NE(log.text().find("bad_other"), std::string::npos) << log.text();
	EXPECT_EQ(stats_of(d).objects_in_use, 0u);
	EXPECT_EQ(stats_of(c).objects_in_use, 39u);
	dslab_free(c, static_cast<char *>(v[2]) + 8); /* interior */
	EXPECT_NE(log.text().find(ptr_str(static_cast<char *>(v[2]) + 8)), std::string::npos) << log.text();
	EXPECT_EQ(stats_of(c).objects_in_use, 39u);
	for (size_t i = 1; i < v.size(); i++)
		dslab_free(c, v[i]);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	std::vector<void *> w(40);
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 40, w.data()), 40u);
	std::set<void *> uw(w.begin(), w.end());
	EXPECT_EQ(uw.size(), 40u);
	dslab_free_bulk(c, 40, w.data());
#else
	GTEST_SKIP() << "checked builds only (meson -Dchecked=true)";
#endif
}

} // namespace
