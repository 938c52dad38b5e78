/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Prefilled sheaves (slub.c: kmem_cache_prefill_sheaf(),
 * kmem_cache_alloc_from_sheaf(), kmem_cache_refill_sheaf(),
 * kmem_cache_return_sheaf()): a caller that must not fail in the middle of a
 * burst takes a sheaf holding enough objects beforehand. A sheaf up to the
 * cache's capacity comes whole from the barn when one is there; a larger
 * ("oversize") one is allocated for the occasion and never enters a barn.
 * The sheaf holds objects of the caller's socket and belongs to the caller.
 */
#include "internal.h"

using namespace dslab;

namespace {
constexpr unsigned kMaxPrefill = 1u << 20;
}

extern "C" struct dslab_sheaf *dslab_prefill_sheaf(struct dslab_cache *cache, unsigned flags,
						   unsigned n)
{
	dslab::BusyScope busy;
	(void)flags;
	if (!valid_cache(cache) || n > kMaxPrefill) {
		rte_errno = EINVAL;
		return nullptr;
	}
	dslab_cache_impl *c = cache->impl;
	unsigned lc = rte_lcore_id();
	int socket = topo_caller_socket();
	dslab_sheaf *s;

	if (n > c->capacity) {
		s = sheaf_alloc(c, lc, socket, n);
		stat_add(c, lc, STAT_sheaf_prefill_oversize, 1);
	} else {
		s = barn_get_full(c, lc, socket);
		if (s != nullptr) {
			stat_add(c, lc, STAT_sheaf_prefill_fast, 1);
			return s;
		}
		s = barn_get_empty(c, lc, socket);
		if (s == nullptr)
			s = sheaf_alloc(c, lc, socket, c->capacity);
		stat_add(c, lc, STAT_sheaf_prefill_slow, 1);
	}
	if (s == nullptr || !sheaf_refill(c, lc, s, n)) {
		if (s != nullptr) {
			sheaf_flush(c, lc, s);
			sheaf_free(c, lc, s);
		}
		stat_add(c, lc, STAT_alloc_fail, 1);
		rte_errno = ENOMEM;
		return nullptr;
	}
	return s;
}

extern "C" void *dslab_alloc_from_sheaf(struct dslab_cache *cache, unsigned flags,
					struct dslab_sheaf *sheaf)
{
	dslab::BusyScope busy;
	if (!valid_cache(cache) || sheaf == nullptr) {
		rte_errno = EINVAL;
		return nullptr;
	}
	if (sheaf->size == 0) {
		rte_errno = ENOENT;
		return nullptr;
	}
	stat_add(cache->impl, rte_lcore_id(), STAT_alloc_from_sheaf, 1);
	return hand_out(cache->impl, sheaf->objects[--sheaf->size], flags);
}

extern "C" int dslab_refill_sheaf(struct dslab_cache *cache, unsigned flags,
				  struct dslab_sheaf **sheafp, unsigned n)
{
	dslab::BusyScope busy;
	(void)flags;
	if (!valid_cache(cache) || sheafp == nullptr || *sheafp == nullptr || n > kMaxPrefill)
		return fail(EINVAL);
	dslab_cache_impl *c = cache->impl;
	unsigned lc = rte_lcore_id();
	dslab_sheaf *s = *sheafp;

	if (n <= s->capacity)
		return sheaf_refill(c, lc, s, n) ? 0 : fail(ENOMEM);

	/* Grow: a larger sheaf takes the objects over, but only once it is
	 * full enough; on failure the caller keeps its sheaf as it was. */
	dslab_sheaf *big = sheaf_alloc(c, lc, s->socket, n);
	if (big == nullptr)
		return fail(ENOMEM);
	memcpy(big->objects, s->objects, s->size * sizeof(void *));
	big->size = s->size;
	if (!sheaf_refill(c, lc, big, n)) {
		uint32_t extra = big->size - s->size;
		memmove(big->objects, big->objects + s->size, extra * sizeof(void *));
		big->size = extra;
		sheaf_flush(c, lc, big);
		sheaf_free(c, lc, big);
		return fail(ENOMEM);
	}
	s->size = 0;
	if (s->oversize)
		sheaf_free(c, lc, s);
	else
		barn_put_empty(c, lc, s);
	*sheafp = big;
	stat_add(c, lc, STAT_sheaf_prefill_oversize, 1);
	return 0;
}

extern "C" void dslab_return_sheaf(struct dslab_cache *cache, struct dslab_sheaf *sheaf)
{
	dslab::BusyScope busy;
	if (sheaf == nullptr)
		return;
	if (!valid_cache(cache)) {
		rte_errno = EINVAL;
		return;
	}
	dslab_cache_impl *c = cache->impl;
	unsigned lc = rte_lcore_id();

	if (!sheaf->oversize && sheaf->size == sheaf->capacity && barn_put_full(c, lc, sheaf)) {
		stat_add(c, lc, STAT_sheaf_return_fast, 1);
		return;
	}
	sheaf_flush(c, lc, sheaf);
	if (sheaf->oversize)
		sheaf_free(c, lc, sheaf);
	else
		barn_put_empty(c, lc, sheaf);
	stat_add(c, lc, STAT_sheaf_return_slow, 1);
}

extern "C" unsigned dslab_sheaf_size(const struct dslab_sheaf *sheaf)
{
	return sheaf != nullptr ? sheaf->size : 0;
}
