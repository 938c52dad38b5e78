/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_HPP
#define DSLAB_HPP

/**
 * @file
 * Thin C++ layer over dslab.h: an RAII cache handle, typed allocation and
 * spans for bulk operations. No exceptions: failures return nullptr / false
 * with rte_errno set, as in the C API.
 */

#include <cstddef>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "dslab.h"

namespace dslab {

/** Owns a dslab cache of objects of type T; destroys it when it goes away. */
template <class T> class Cache {
public:
	Cache() = default;
	/** Create the cache (check valid() or operator bool afterwards). */
	explicit Cache(const char *name, const dslab_cache_args *args = nullptr)
		: c_(dslab_cache_create(name, sizeof(T), with_align(args)))
	{
	}
	~Cache() { dslab_cache_destroy(c_); }
	Cache(Cache &&o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
	Cache &operator=(Cache &&o) noexcept
	{
		if (this != &o) {
			dslab_cache_destroy(c_);
			c_ = std::exchange(o.c_, nullptr);
		}
		return *this;
	}
	Cache(const Cache &) = delete;
	Cache &operator=(const Cache &) = delete;

	explicit operator bool() const { return c_ != nullptr; }
	dslab_cache *get() const { return c_; }

	/** Raw, uninitialised storage for one T (nullptr on failure). */
	T *alloc(unsigned flags = 0) { return static_cast<T *>(dslab_alloc(c_, flags)); }
	/** Give raw storage back (no destructor runs). */
	void free(T *p) { dslab_free(c_, p); }

	/** Allocate and construct a T. */
	template <class... A> T *make(A &&...a)
	{
		void *p = dslab_alloc(c_, 0);
		return p != nullptr ? ::new (p) T(std::forward<A>(a)...) : nullptr;
	}
	/** Destroy and free a T from make(). nullptr is a no-op. */
	void destroy(T *p)
	{
		if (p == nullptr)
			return;
		p->~T();
		dslab_free(c_, p);
	}

	/** Fill the whole span or nothing; true on success. */
	bool alloc_bulk(std::span<T *> out, unsigned flags = 0)
	{
		return dslab_alloc_bulk(c_, flags, (unsigned)out.size(),
					reinterpret_cast<void **>(out.data())) == out.size();
	}
	/** Free every object of the span (raw storage). */
	void free_bulk(std::span<T *> objs)
	{
		dslab_free_bulk(c_, (unsigned)objs.size(), reinterpret_cast<void **>(objs.data()));
	}

	/** Counters; false on error. */
	bool stats(struct dslab_cache_stats &s) const { return dslab_cache_stats(c_, &s) == 0; }

private:
	static const dslab_cache_args *with_align(const dslab_cache_args *args)
	{
		thread_local dslab_cache_args a;
		if (args != nullptr || alignof(T) <= 8)
			return args;
		a = dslab_cache_args{};
		a.align = alignof(T);
		a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_AUTO;
		return &a;
	}
	dslab_cache *c_ = nullptr;
};

/** Deleter for std::unique_ptr of kmalloc memory. */
struct KFree {
	void operator()(const void *p) const { dslab_kfree(p); }
};

} // namespace dslab

#endif /* DSLAB_HPP */
