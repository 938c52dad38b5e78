/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Sheaves and barns (slub.c: alloc_empty_sheaf(), sheaf_flush_unused(),
 * refill_sheaf(), barn_get_full_sheaf(), barn_put_full_sheaf(),
 * barn_replace_empty_sheaf(), barn_replace_full_sheaf(), ...).
 *
 * A barn keeps, per cache and socket, full sheaves (ready to become an
 * lcore's main on allocation) and empty ones (ready to take frees), up to
 * the cache's limits. Barn::lock covers only the two lists and their counts:
 * no allocation, flush or refill happens under it. Counts are read racily
 * before locking to skip a useless lock; they are re-checked under it.
 * A sheaf in a barn holds objects of the barn's socket only.
 */
#include <algorithm>
#include <cstdlib>
#include <new>

#include "internal.h"

namespace dslab {

Barn *barn_create() { return new (std::nothrow) Barn(); }

namespace {

/* A barn list's push and pop, under the barn's lock. Its counter is also
 * read without the lock (a hint that skips a useless lock): atomic stores. */
void list_push(dslab_sheaf *&head, uint32_t &nr, dslab_sheaf *s)
{
	s->next = head;
	head = s;
	__atomic_store_n(&nr, nr + 1, __ATOMIC_RELAXED);
}

dslab_sheaf *list_pop(dslab_sheaf *&head, uint32_t &nr)
{
	dslab_sheaf *s = head;

	if (s != nullptr) {
		head = s->next;
		__atomic_store_n(&nr, nr - 1, __ATOMIC_RELAXED);
	}
	return s;
}

} // namespace

dslab_sheaf *sheaf_alloc(dslab_cache_impl *c, unsigned lc, int socket, uint32_t capacity)
{
	/* Plain heap memory, first touched by the lcore that will use it. */
	size_t sz = sizeof(dslab_sheaf) + (size_t)capacity * sizeof(void *);
	auto *s = unlikely(fault_hit(DSLAB_FAULT_SHEAF))
			  ? nullptr
			  : static_cast<dslab_sheaf *>(aligned_alloc(64, RTE_ALIGN_CEIL(sz, (size_t)64)));

	if (s == nullptr)
		return nullptr;
	s->next = nullptr;
	s->size = 0;
	s->capacity = capacity;
	s->socket = socket;
	s->oversize = capacity > c->capacity;
	stat_add(c, lc, STAT_sheaf_alloc, 1);
	return s;
}

void sheaf_free(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s)
{
	RTE_ASSERT(s->size == 0);
	stat_add(c, lc, STAT_sheaf_free, 1);
	free(s);
}

void sheaf_flush(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s)
{
	if (s->size == 0)
		return;
	node_free(c, s->socket, s->size, s->objects);
	s->size = 0;
	stat_add(c, lc, STAT_sheaf_flush, 1);
}

bool sheaf_refill(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s, uint32_t want)
{
	if (want > s->capacity)
		want = s->capacity;
	if (s->size >= want)
		return true;
	/* The slabs hand objects out lowest address first and the sheaf
	 * pops from its top: reversed, allocations walk fresh memory upwards,
	 * the direction the hardware prefetchers follow best. The working-set
	 * benchmark's allocation pass (it writes into each object) went from
	 * 9.3 to 5.2 ns per object. */
	uint32_t got = node_alloc(c, s->socket, want - s->size, &s->objects[s->size]);
	std::reverse(&s->objects[s->size], &s->objects[s->size + got]);
	s->size += got;
	stat_add(c, lc, STAT_sheaf_refill, 1);
	return s->size >= want;
}

/* The allocation slow path's exchange, under one hold of the lock (slub.c:
 * barn_replace_empty_sheaf()): a full sheaf for the caller's empty one
 * (NULL: none to give, barn_get_full()), which goes into the empty list,
 * or is freed when that is at its limit. NULL: no full sheaf, and the
 * empty one stays the caller's. One lock hold instead of two: when another
 * lcore frees what this one allocates, the lock's line crosses between
 * them at each hold. */
dslab_sheaf *barn_replace_empty(dslab_cache_impl *c, unsigned lc, int socket, dslab_sheaf *empty)
{
	Barn *b = c->barn[socket];
	dslab_sheaf *s = nullptr;
	bool kept = false;

	RTE_ASSERT(empty == nullptr || (empty->size == 0 && !empty->oversize));
	if (__atomic_load_n(&b->nr_full, __ATOMIC_RELAXED) != 0) {
		Guard<SpinLock> g(b->lock);
		s = list_pop(b->full, b->nr_full);
		if (s != nullptr && empty != nullptr && b->nr_empty < c->max_empty) {
			list_push(b->empty, b->nr_empty, empty);
			kept = true;
		}
	}
	stat_add(c, lc, s != nullptr ? STAT_barn_get : STAT_barn_get_fail, 1);
	if (s != nullptr && empty != nullptr) {
		stat_add(c, lc, kept ? STAT_barn_put : STAT_barn_put_fail, 1);
		if (!kept)
			sheaf_free(c, lc, empty);
	}
	return s;
}

dslab_sheaf *barn_get_full(dslab_cache_impl *c, unsigned lc, int socket)
{
	return barn_replace_empty(c, lc, socket, nullptr);
}

/* The free slow path's exchange, under one hold of the lock (slub.c:
 * barn_replace_full_sheaf()): the caller's full sheaf into the full list,
 * if it is below its limit, and, unless empty is NULL (barn_put_full()),
 * an empty sheaf out (*empty, NULL if there was none). False: the barn is
 * at its limit, nothing changed. */
bool barn_replace_full(dslab_cache_impl *c, unsigned lc, int socket, dslab_sheaf *full,
		       dslab_sheaf **empty)
{
	Barn *b = c->barn[socket];
	bool ok = false;

	if (empty != nullptr)
		*empty = nullptr;
	if (__atomic_load_n(&b->nr_full, __ATOMIC_RELAXED) < c->max_full) {
		Guard<SpinLock> g(b->lock);
		if (b->nr_full < c->max_full) {
			list_push(b->full, b->nr_full, full);
			if (empty != nullptr)
				*empty = list_pop(b->empty, b->nr_empty);
			ok = true;
		}
	}
	stat_add(c, lc, ok ? STAT_barn_put : STAT_barn_put_fail, 1);
	if (ok && empty != nullptr)
		stat_add(c, lc, *empty != nullptr ? STAT_barn_get : STAT_barn_get_fail, 1);
	return ok;
}

/* The nolock calls' exchange, never waiting (a barn another thread holds
 * is a failure): a sheaf from list `from`, and the caller's sheaf `give`
 * (NULL: none) into list `to`, which must be below `limit` (freeing it
 * could make a system call). */
static dslab_sheaf *exchange_try(dslab_cache_impl *c, unsigned lc, Barn *b, dslab_sheaf *&from,
				 uint32_t &nr_from, dslab_sheaf *&to, uint32_t &nr_to,
				 uint32_t limit, dslab_sheaf *give)
{
	dslab_sheaf *s = nullptr;

	if (__atomic_load_n(&nr_from, __ATOMIC_RELAXED) != 0 && b->lock.try_lock()) {
		if (give == nullptr || nr_to < limit) {
			s = list_pop(from, nr_from);
			if (s != nullptr && give != nullptr)
				list_push(to, nr_to, give);
		}
		b->lock.unlock();
	}
	stat_add(c, lc, s != nullptr ? STAT_barn_get : STAT_barn_get_fail, 1);
	if (s != nullptr && give != nullptr)
		stat_add(c, lc, STAT_barn_put, 1);
	return s;
}

/* kmalloc_nolock's: a full sheaf for the caller's empty spare. */
dslab_sheaf *barn_exchange_try(dslab_cache_impl *c, unsigned lc, int socket, dslab_sheaf *empty)
{
	Barn *b = c->barn[socket];
	return exchange_try(c, lc, b, b->full, b->nr_full, b->empty, b->nr_empty, c->max_empty,
			    empty);
}

/* kfree_nolock's, the mirror image: an empty sheaf for its full spare. */
dslab_sheaf *barn_exchange_empty_try(dslab_cache_impl *c, unsigned lc, int socket, dslab_sheaf *full)
{
	Barn *b = c->barn[socket];
	return exchange_try(c, lc, b, b->empty, b->nr_empty, b->full, b->nr_full, c->max_full,
			    full);
}

dslab_sheaf *barn_get_empty(dslab_cache_impl *c, unsigned lc, int socket)
{
	Barn *b = c->barn[socket];
	dslab_sheaf *s = nullptr;

	if (__atomic_load_n(&b->nr_empty, __ATOMIC_RELAXED) != 0) {
		Guard<SpinLock> g(b->lock);
		s = list_pop(b->empty, b->nr_empty);
	}
	stat_add(c, lc, s != nullptr ? STAT_barn_get : STAT_barn_get_fail, 1);
	return s;
}

bool barn_put_full(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s)
{
	return barn_replace_full(c, lc, s->socket, s, nullptr);
}

void barn_put_empty(dslab_cache_impl *c, unsigned lc, dslab_sheaf *s)
{
	Barn *b = c->barn[s->socket];

	RTE_ASSERT(s->size == 0 && !s->oversize);
	if (__atomic_load_n(&b->nr_empty, __ATOMIC_RELAXED) < c->max_empty) {
		Guard<SpinLock> g(b->lock);
		if (b->nr_empty < c->max_empty) {
			list_push(b->empty, b->nr_empty, s);
			stat_add(c, lc, STAT_barn_put, 1);
			return;
		}
	}
	stat_add(c, lc, STAT_barn_put_fail, 1);
	sheaf_free(c, lc, s);
}

void barn_drain(dslab_cache_impl *c, int socket)
{
	Barn *b = c->barn[socket];
	dslab_sheaf *full, *empty;
	unsigned lc = rte_lcore_id();

	{
		Guard<SpinLock> g(b->lock);
		full = b->full;
		empty = b->empty;
		b->full = b->empty = nullptr;
		__atomic_store_n(&b->nr_full, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->nr_empty, 0, __ATOMIC_RELAXED);
	}
	for (dslab_sheaf *s = full, *next; s != nullptr; s = next) {
		next = s->next;
		sheaf_flush(c, lc, s);
		sheaf_free(c, lc, s);
	}
	for (dslab_sheaf *s = empty, *next; s != nullptr; s = next) {
		next = s->next;
		sheaf_free(c, lc, s);
	}
}

/*
 * Threads with no lcore id have no sheaves of their own; they share one per
 * cache and socket under Barn::shared_lock, and exchange it with the barn as
 * an lcore would its main (full for empty on allocation, full out on free),
 * so that objects move between them and the lcores in whole sheaves. Like
 * an rte_mempool without cache, but a sheaf away from the slabs. Lock order:
 * shared_lock > Barn::lock, Node::lock. Counted in the shared slot
 * (alloc_slowpath / free_slowpath for the objects).
 */
namespace {

/* Make the shared sheaf non-empty; false when no object can be had. */
bool shared_fill(dslab_cache_impl *c, Barn *b, int socket, unsigned lc)
{
	dslab_sheaf *full = barn_get_full(c, lc, socket);
	if (full != nullptr) {
		if (b->shared != nullptr)
			barn_put_empty(c, lc, b->shared);
		b->shared = full;
		return true;
	}
	if (b->shared == nullptr && (b->shared = sheaf_alloc(c, lc, socket, c->capacity)) == nullptr)
		return false;
	sheaf_refill(c, lc, b->shared, c->capacity);
	return b->shared->size != 0;
}

/* Make room in the shared sheaf; false when there is no sheaf at all. */
bool shared_room(dslab_cache_impl *c, Barn *b, int socket, unsigned lc)
{
	dslab_sheaf *s = b->shared;
	if (s != nullptr && s->size == s->capacity) {
		if (barn_put_full(c, lc, s)) {
			b->shared = nullptr;
		} else {
			sheaf_flush(c, lc, s);
			return true;
		}
	}
	if (b->shared == nullptr) {
		b->shared = barn_get_empty(c, lc, socket);
		if (b->shared == nullptr)
			b->shared = sheaf_alloc(c, lc, socket, c->capacity);
	}
	return b->shared != nullptr;
}

} // namespace

unsigned shared_alloc(dslab_cache_impl *c, int socket, unsigned n, void **objs)
{
	Barn *b = c->barn[socket];
	unsigned lc = rte_lcore_id(), got = 0;
	{
		Guard<SpinLock> g(b->shared_lock);
		while (got < n) {
			dslab_sheaf *s = b->shared;
			if ((s == nullptr || s->size == 0) && !shared_fill(c, b, socket, lc))
				break;
			s = b->shared;
			unsigned k = RTE_MIN(s->size, n - got);
			for (unsigned i = 0; i < k; i++)
				objs[got + i] = s->objects[s->size - 1 - i];
			s->size -= k;
			got += k;
		}
	}
	if (got == n)
		return n;
	/* Out of memory (or no sheaf to be had): from the slabs, all or none. */
	got += node_alloc(c, socket, n - got, objs + got);
	if (got == n)
		return n;
	if (got != 0)
		shared_free(c, socket, got, objs);
	return 0;
}

void shared_free(dslab_cache_impl *c, int socket, unsigned n, void *const *objs)
{
	Barn *b = c->barn[socket];
	unsigned lc = rte_lcore_id(), done = 0;
	{
		Guard<SpinLock> g(b->shared_lock);
		while (done < n) {
			dslab_sheaf *s = b->shared;
			if ((s == nullptr || s->size == s->capacity) && !shared_room(c, b, socket, lc))
				break;
			s = b->shared;
			unsigned k = RTE_MIN(s->capacity - s->size, n - done);
			for (unsigned i = 0; i < k; i++)
				s->objects[s->size + i] = objs[done + i];
			s->size += k;
			done += k;
		}
	}
	if (done < n) /* no memory for a sheaf: straight to the slabs */
		node_free(c, socket, n - done, objs + done);
}

void shared_flush(dslab_cache_impl *c, int socket)
{
	Barn *b = c->barn[socket];
	dslab_sheaf *s;
	{
		Guard<SpinLock> g(b->shared_lock);
		s = b->shared;
		b->shared = nullptr;
	}
	if (s != nullptr) {
		unsigned lc = rte_lcore_id();
		sheaf_flush(c, lc, s);
		sheaf_free(c, lc, s);
	}
}

} // namespace dslab
