/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * The C++ layer (dslab.hpp): RAII cache, typed construction, spans for bulk
 * operations, the kfree deleter.
 */
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include <dslab.hpp>

#include "test_util.h"

namespace {

TEST(Cpp, RaiiCacheTypedAndSpans)
{
	struct Point {
		int x, y;
		Point(int a, int b) : x(a), y(b) {}
	};
	{
		dslab::Cache<Point> pc("cpp_points");
		ASSERT_TRUE(pc);
		EXPECT_EQ(dslab_cache_lookup("cpp_points"), pc.get());
		Point *p = pc.make(3, 4);
		ASSERT_NE(p, nullptr);
		EXPECT_EQ(p->x + p->y, 7);
		pc.destroy(p);
		pc.destroy(nullptr);
		std::vector<Point *> v(10);
		ASSERT_TRUE(pc.alloc_bulk(v));
		for (Point *q : v)
			ASSERT_NE(q, nullptr);
		pc.free_bulk(v);
		struct dslab_cache_stats s;
		ASSERT_TRUE(pc.stats(s));
		EXPECT_EQ(s.objects_in_use, 0u);
		EXPECT_EQ(s.alloc_cpu_sheaf, 11u);

		dslab::Cache<Point> moved(std::move(pc));
		EXPECT_FALSE(pc);
		ASSERT_TRUE(moved);
		Point *r = moved.alloc();
		ASSERT_NE(r, nullptr);
		moved.free(r);
	}
	EXPECT_EQ(dslab_cache_lookup("cpp_points"), nullptr) << "destroyed with its handle";

	struct alignas(128) Wide {
		char b[40];
	};
	dslab::Cache<Wide> wc("cpp_wide");
	ASSERT_TRUE(wc);
	Wide *w = wc.alloc();
	ASSERT_NE(w, nullptr);
	EXPECT_EQ((uintptr_t)w % 128, 0u) << "alignof(T) is honoured";
	wc.free(w);

	std::unique_ptr<char, dslab::KFree> k(static_cast<char *>(dslab_kmalloc(10, 0)));
	EXPECT_NE(k.get(), nullptr);
}

} // namespace
