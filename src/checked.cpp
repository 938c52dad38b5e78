/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Bad-pointer reports, and the checks of checked builds (meson
 * -Dchecked=true). A checked build keeps one bit per object, set while the
 * object is in a user's hands, and verifies on every free that the pointer
 * is dslab memory, belongs to the cache it is freed to, is the start of an
 * object, and is allocated (double frees are caught, with object and cache
 * named). Bits change with atomic RMW: checked builds trade speed for this.
 *
 * Each object is followed by a redzone (kRedzone bytes, at least 8), written
 * when its slab is carved and verified at every free and allocation: a write
 * past the object is reported. A freed object is filled with kPoisonFree and
 * verified at its next allocation, every byte (slabs keep free objects in a
 * bitmap, never in the objects): a write after free is reported. Reports name
 * the cache and the object; the operation then goes on (the object is still freed or handed
 * out), as the kernel's slub_debug does. Without the option none of it is
 * compiled in.
 */
#include <cstdlib>
#include <cstring>

#include "internal.h"

namespace dslab {

bool report_foreign(const char *what, const void *obj)
{
	DSLAB_LOG(ERR, "%s(%p): not memory dslab handed out (or already given back): ignored",
		  what, obj);
	rte_errno = EINVAL;
	return false;
}

#if DSLAB_CHECKED
bool checked_slab_init(const dslab_cache_impl *c, Slab *s)
{
	size_t words = (c->objs_per_slab + 63) / 64;
	s->allocated = static_cast<std::atomic<uint64_t> *>(calloc(words, sizeof(uint64_t)));
	return s->allocated != nullptr;
}

void checked_slab_fini(Slab *s)
{
	free(s->allocated);
	s->allocated = nullptr;
}

namespace {
constexpr unsigned char kPoisonFree = 0x6b; /* as the kernel's POISON_FREE */
constexpr unsigned char kRedzone = 0xbb;    /* as SLUB_RED_ACTIVE */

/* First byte in [from, to) of obj that is not v, or -1. */
long find_not(const void *obj, size_t from, size_t to, unsigned char v)
{
	const unsigned char *p = static_cast<const unsigned char *>(obj);
	for (size_t i = from; i < to; i++)
		if (p[i] != v)
			return (long)i;
	return -1;
}

void check_redzone(const dslab_cache_impl *c, const void *obj, const char *when)
{
	long bad = find_not(obj, c->size, c->obj_size, kRedzone);
	if (bad < 0)
		return;
	DSLAB_LOG(ERR, "cache %s: write past the end of object %p (redzone byte %ld of %u "
		  "overwritten), seen at %s", c->name, obj, bad - (long)c->size,
		  c->obj_size - c->size, when);
	/* Repaired, so that one overflow is reported once. */
	memset(static_cast<char *>(const_cast<void *>(obj)) + c->size, kRedzone, c->obj_size - c->size);
}
} // namespace

void checked_slab_poison(const dslab_cache_impl *c, Slab *s)
{
	for (uint32_t i = 0; i < c->objs_per_slab; i++) {
		char *o = s->base + (size_t)i * c->obj_size;
		memset(o, kPoisonFree, c->size);
		memset(o + c->size, kRedzone, c->obj_size - c->size);
	}
}
#endif

} // namespace dslab

#if DSLAB_CHECKED
using namespace dslab;

namespace {
/* Verify a free of obj to cache and mark it free; false: reported. */
bool verify_free(struct dslab_cache *cache, const void *obj)
{
	if (!valid_cache(cache)) {
		DSLAB_LOG(ERR, "free of %p to %p: not a cache; not freed", obj, (void *)cache);
		return 0;
	}
	Chunk *ch = pm_chunk(obj);
	if (ch == nullptr)
		return report_foreign("dslab_free", obj);
	if (ch->pub.cache != cache) {
		DSLAB_LOG(ERR, "free of %p to cache %s: it belongs to %s%s; not freed", obj,
			  cache->impl->name, ch->pub.cache ? "cache " : "a large allocation",
			  ch->pub.cache ? ch->impl->name : "");
		return 0;
	}
	uint32_t idx = obj_index(ch->impl, ch, obj);
	Slab *s = slab_of(ch, obj);
	if (idx == UINT32_MAX || s->allocated == nullptr) {
		DSLAB_LOG(ERR, "free of %p to cache %s: not the start of an object; not freed", obj,
			  cache->impl->name);
		return 0;
	}
	uint64_t bit = 1ull << (idx % 64);
	if ((s->allocated[idx / 64].fetch_and(~bit, std::memory_order_relaxed) & bit) == 0) {
		DSLAB_LOG(ERR, "double free of %p (object %u of a slab) in cache %s; not freed", obj,
			  idx, cache->impl->name);
		return 0;
	}
	check_redzone(ch->impl, obj, "free");
	return 1;
}
} // namespace

extern "C" int dslab_check_free_(struct dslab_cache *cache, const void *obj)
{
	if (!verify_free(cache, obj))
		return 0;
	memset(const_cast<void *>(obj), kPoisonFree, cache->impl->size);
	return 1;
}

bool dslab::checked_rcu_free(dslab_cache_impl *c, const void *obj)
{
	return verify_free(c->pub, obj);
}

void dslab::checked_rcu_unfree(const void *obj)
{
	Chunk *ch = pm_chunk(obj);
	uint32_t idx = obj_index(ch->impl, ch, obj);
	slab_of(ch, obj)->allocated[idx / 64].fetch_or(1ull << (idx % 64), std::memory_order_relaxed);
}

void dslab::checked_poison(const dslab_cache_impl *c, void *obj)
{
	memset(obj, kPoisonFree, c->size);
}

extern "C" void dslab_check_alloc_(struct dslab_cache *cache, void *obj)
{
	Chunk *ch = pm_chunk(obj);
	uint32_t idx = obj_index(cache->impl, ch, obj);
	Slab *s = slab_of(ch, obj);
	uint64_t bit = 1ull << (idx % 64);

	const dslab_cache_impl *c = cache->impl;

	if (s->allocated[idx / 64].fetch_or(bit, std::memory_order_relaxed) & bit)
		DSLAB_LOG(CRIT, "cache %s handed out %p while it was allocated", c->name, obj);
	long bad = find_not(obj, 0, c->size, kPoisonFree);
	if (bad >= 0)
		DSLAB_LOG(ERR, "cache %s: object %p was written after it was freed (byte %ld), seen "
			  "at allocation", c->name, obj, bad);
	check_redzone(c, obj, "allocation");
}
#endif
