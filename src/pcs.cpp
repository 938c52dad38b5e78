/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Per-lcore sheaves: the out-of-line slow paths behind the inline fast
 * paths of dslab_pcs.h (slub.c: __pcs_replace_empty_main(),
 * __pcs_replace_full_main(), alloc_from_pcs_bulk(), free_to_pcs_bulk()).
 *
 * A pcs is written only by its own lcore (no lock, no atomic RMW); destroy,
 * fini and the lcore uninit callback touch it only when its lcore cannot.
 * While a sheaf is an lcore's main, pcs.main_size is the size of its near
 * end and pcs.main_top the start of its far end (objects a nolock call
 * freed, dslab_pcs.h); every slow path here first moves the far end down
 * (pcs_settle_main()), so that past it main is one stack of main_size
 * objects, and sheaf->size is brought up to date before the sheaf leaves
 * the main slot.
 *
 * Invariant kept here: only objects of the lcore's socket enter its sheaves
 * (a free of another socket's object goes to that socket's slabs).
 */
#include "internal.h"

namespace dslab {

static int pcs_socket(const dslab_pcs *p) { return (int)(p->socket_tag & ~DSLAB_PM_VALID); }

/* main_size changes by something other than an alloc or a free: alloc_base
 * moves by as much, inside main_seq, so that the allocations counted by
 * alloc_base + free_cpu_sheaf - main_size do not (dslab_pcs.h, top). */
static void main_size_set(dslab_pcs *p, uint32_t v)
{
	const uint32_t q = p->main_seq;

	__atomic_store_n(&p->main_seq, q + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&p->alloc_base, p->alloc_base + v - p->main_size, __ATOMIC_RELAXED);
	__atomic_store_n(&p->main_size, v, __ATOMIC_RELAXED);
	__atomic_store_n(&p->main_seq, q + 2, __ATOMIC_RELEASE);
}

static void set_main(dslab_pcs *p, dslab_sheaf *s)
{
	p->main = s;
	p->main_objs = s->objects;
	main_size_set(p, s->size);
	__atomic_store_n(&p->main_top, s->capacity, __ATOMIC_RELAXED);
}

/* Move main's far end down onto its near end. Marked busy by the caller,
 * so no nolock call changes main_top meanwhile. */
void pcs_settle_main(dslab_pcs *p)
{
	if (p->capacity == 0)
		return;
	const uint32_t top = p->main_top, cap = p->main->capacity;
	if (top == cap)
		return;
	memmove(&p->main_objs[p->main_size], &p->main_objs[top], (cap - top) * sizeof(void *));
	main_size_set(p, p->main_size + (cap - top));
	__atomic_store_n(&p->main_top, cap, __ATOMIC_RELAXED);
}

void swap_main_spare(dslab_cache_impl *c, dslab_pcs *p, unsigned lc)
{
	dslab_sheaf *old = p->main;

	old->size = p->main_size;
	set_main(p, p->spare);
	p->spare = old;
	stat_add(c, lc, STAT_sheaf_swap, 1);
}

void *nolock_pcs_alloc(dslab_cache_impl *c, dslab_pcs *p, unsigned lc)
{
	/* Main's far end: slot main_top is above any slot a fast path we
	 * interrupted may be using (main_size <= main_top, and a free pushes
	 * only below main_top). */
	const uint32_t top = p->main_top;
	if (top < p->capacity) {
		void *obj = p->main_objs[top];
		__atomic_store_n(&p->main_top, top + 1, __ATOMIC_RELAXED);
		return obj;
	}
	/* The spare (no fast path touches it), filled first, if it is empty,
	 * with a full sheaf of the barn if its lock is free; the empty one
	 * goes into the barn (not freed: free() may make a system call). */
	dslab_sheaf *sp = p->spare;
	if (sp == nullptr || sp->size == 0) {
		dslab_sheaf *full = barn_exchange_try(c, lc, pcs_socket(p), sp);
		if (full == nullptr)
			return nullptr;
		p->spare = sp = full;
	}
	return sp->objects[--sp->size];
}

bool nolock_pcs_free(dslab_cache_impl *c, dslab_pcs *p, unsigned lc, void *obj)
{
	if (dslab_far_push_(p, obj))
		return true;
	/* The spare, which no fast path touches (each lcore has an empty one
	 * from set-up, pcs_ready(), until its first rcu sheaf takes it); when
	 * it is full or missing, an empty sheaf of the barn in its place, if
	 * the barn's lock is free. */
	dslab_sheaf *sp = p->spare;
	if (sp == nullptr || sp->size == sp->capacity) {
		dslab_sheaf *empty = barn_exchange_empty_try(c, lc, pcs_socket(p), sp);
		if (empty == nullptr)
			return false;
		p->spare = sp = empty;
	}
	sp->objects[sp->size++] = obj;
	DSLAB_STAT_ADD_(p->free_nolock, 1);
	return true;
}

namespace {

/* Main is empty: make it non-empty. False only when out of memory. */
bool replace_empty_main(dslab_cache_impl *c, dslab_pcs *p, unsigned lc)
{
	pcs_settle_main(p);
	if (p->main_size != 0)
		return true;
	p->main->size = 0;
	if (p->spare != nullptr && p->spare->size != 0) {
		swap_main_spare(c, p, lc);
		return true;
	}
	/* A full sheaf of the barn; the empty main becomes the spare if
	 * there is none, else goes to the barn in the same lock hold. */
	dslab_sheaf *empty = p->main;
	dslab_sheaf *full =
		barn_replace_empty(c, lc, pcs_socket(p), p->spare == nullptr ? nullptr : empty);
	if (full != nullptr) {
		set_main(p, full);
		if (p->spare == nullptr)
			p->spare = empty;
		return true;
	}
	/* Objects freed on other sockets may be waiting in our ring: they
	 * come into our sheaves, this cache's into the empty main. */
	if (remote_waiting(pcs_socket(p))) {
		remote_drain(pcs_socket(p), lc, 256);
		if (p->main_size != 0)
			return true;
	}
	sheaf_refill(c, lc, p->main, c->capacity);
	main_size_set(p, p->main->size);
	return p->main_size != 0;
}

/* Main is full: make room. Never fails: flushing to slabs is the last resort. */
void replace_full_main(dslab_cache_impl *c, dslab_pcs *p, unsigned lc)
{
	int socket = pcs_socket(p);

	p->main->size = p->main_size;
	if (p->spare != nullptr && p->spare->size == 0) {
		swap_main_spare(c, p, lc);
		return;
	}
	if (p->spare == nullptr) {
		dslab_sheaf *empty = barn_get_empty(c, lc, socket);
		if (empty == nullptr)
			empty = sheaf_alloc(c, lc, socket, c->capacity);
		if (empty != nullptr) {
			p->spare = p->main;
			set_main(p, empty);
		} else {
			sheaf_flush(c, lc, p->main);
			main_size_set(p, 0);
		}
		return;
	}
	/* Both full: main to the barn, an empty sheaf back, in one lock hold. */
	dslab_sheaf *empty;
	if (barn_replace_full(c, lc, socket, p->main, &empty)) {
		if (empty == nullptr)
			empty = sheaf_alloc(c, lc, socket, c->capacity);
		if (empty == nullptr) {
			/* No memory for a sheaf: the full spare becomes the main. */
			empty = p->spare;
			p->spare = nullptr;
			sheaf_flush(c, lc, empty);
		}
		set_main(p, empty);
		return;
	}
	/* Barn at its limit: flush the spare and make it the main (slub.c). */
	sheaf_flush(c, lc, p->spare);
	swap_main_spare(c, p, lc);
}

void *alloc_direct(dslab_cache_impl *c, unsigned lc, int socket, Stat st)
{
	void *obj;

	if (node_alloc(c, socket, 1, &obj) == 0) {
		stat_add(c, lc, STAT_alloc_fail, 1);
		rte_errno = ENOMEM;
		return nullptr;
	}
	stat_add(c, lc, st, 1);
	return obj;
}

/* A thread with no lcore id: the socket's shared sheaf (barn.cpp); an
 * lcore of a cache without sheaves: the slabs. */
void *alloc_unbound(dslab_cache_impl *c, unsigned lc)
{
	if (lc < RTE_MAX_LCORE || c->capacity == 0)
		return alloc_direct(c, lc, topo_caller_socket(), STAT_alloc_slowpath);
	void *obj;
	if (shared_alloc(c, topo_caller_socket(), 1, &obj) == 0) {
		stat_add(c, lc, STAT_alloc_fail, 1);
		rte_errno = ENOMEM;
		return nullptr;
	}
	stat_add(c, lc, STAT_alloc_slowpath, 1);
	return obj;
}

/* Free an object known to be a live object of c on the given socket. */
void free_one(dslab_cache_impl *c, void *obj, int socket)
{
	unsigned lc = rte_lcore_id();

	if (lc >= RTE_MAX_LCORE) {
		/* Into its own socket's shared sheaf: sheaves hold one socket's
		 * objects, those of threads with no lcore id too. */
		if (c->capacity != 0)
			shared_free(c, socket, 1, &obj);
		else
			node_free(c, socket, 1, &obj);
		stat_add(c, lc, STAT_free_slowpath, 1);
		return;
	}
	dslab_pcs *p = &c->pub->pcs[lc];
	if (!pcs_ready(c, p, lc)) {
		node_free(c, socket, 1, &obj);
		stat_add(c, lc, STAT_free_slowpath, 1);
		return;
	}
	if (socket != pcs_socket(p)) {
		/* Never into local sheaves: home by ring batch, or straight
		 * into its slabs. */
		if (!remote_send(c, lc, obj, socket)) {
			node_free(c, socket, 1, &obj);
			stat_add(c, lc, STAT_free_remote_node, 1);
		}
		return;
	}
	pcs_settle_main(p);
	if (p->main_size == p->capacity)
		replace_full_main(c, p, lc);
	p->main_objs[p->main_size] = obj;
	__atomic_store_n(&p->main_size, p->main_size + 1, __ATOMIC_RELAXED);
	DSLAB_STAT_ADD_REL_(p->free_cpu_sheaf, 1);
}

/* Validate a pointer passed to a free; returns its chunk or NULL (reported). */
Chunk *chunk_for_free(dslab_cache *cache, const void *obj, const char *fn)
{
	Chunk *ch = pm_chunk(obj);

	if (ch == nullptr) {
		report_foreign(fn, obj);
		return nullptr;
	}
	if (ch->pub.cache != cache) {
		DSLAB_LOG(ERR, "%s: %p belongs to %s %s, not to cache %s: not freed", fn, obj,
			  ch->pub.cache ? "cache" : "a large allocation",
			  ch->pub.cache ? ch->impl->name : "", cache->impl->name);
		rte_errno = EINVAL;
		return nullptr;
	}
	return ch;
}

} // namespace

static_assert(offsetof(dslab_pcs, rcu_objs) == RTE_CACHE_LINE_SIZE,
	      "alloc and free touch one line of the pcs");

bool pcs_ready(dslab_cache_impl *c, dslab_pcs *p, unsigned lc)
{
	if (likely(p->capacity != 0))
		return true;
	/* A cache being reaped, or kept with leaked objects: no new sheaves,
	 * which nobody would flush; a late free goes to the slabs. */
	if (c->capacity == 0 || cache_dying(c))
		return false;
	int socket = topo_lcore_socket(lc);
	dslab_sheaf *m = sheaf_alloc(c, lc, socket, c->capacity);
	if (m == nullptr)
		return false;
	set_main(p, m);
	/* An empty spare from the start: the only place a kfree_nolock can
	 * put an object when main is full without a lock, and then the first
	 * place a kmalloc_nolock takes one from (nolock_pcs_alloc()). None if
	 * there is no memory for it: the slow paths get one when they need it. */
	p->spare = sheaf_alloc(c, lc, socket, c->capacity);
	p->socket_tag = DSLAB_PM_TAG(socket);
	p->zero = c->flags & DSLAB_CACHE_ZERO ? DSLAB_F_ZERO : 0;
	static_assert(DSLAB_SHEAF_CAPACITY_MAX < 0xffff, "prefetch_off's 'never'");
	p->prefetch_off = cpu_has_prefetchw() ? 0 : 0xffff;
	p->capacity = c->capacity;
	return true;
}

bool pcs_take_home(dslab_cache_impl *c, unsigned lc, void *obj)
{
	dslab_pcs *p = &c->pub->pcs[lc];

	/* A cache being reaped: its slabs (remote_reap_begin()), not the
	 * sheaves the reap flushes. */
	if (cache_dying(c) || !pcs_ready(c, p, lc))
		return false;
	pcs_settle_main(p);
	if (p->main_size == p->capacity)
		replace_full_main(c, p, lc);
	p->main_objs[p->main_size] = obj;
	main_size_set(p, p->main_size + 1); /* not a free of this lcore's */
	return true;
}

bool valid_cache(const dslab_cache *cache)
{
	return cache != nullptr && cache->impl != nullptr && cache->impl->pub == cache;
}

void *hand_out(dslab_cache_impl *c, void *obj, unsigned flags)
{
#if DSLAB_CHECKED
	dslab_check_alloc_(c->pub, obj);
#endif
	if ((flags | c->flags) & DSLAB_F_ZERO)
		memset(obj, 0, c->size);
	return obj;
}

void pcs_flush(dslab_cache_impl *c, unsigned lc)
{
	dslab_pcs *p = &c->pub->pcs[lc];

	if (p->capacity == 0)
		return;
	rcu_pcs_gone(c, lc);
	pcs_settle_main(p);
	p->main->size = p->main_size;
	for (dslab_sheaf *s : {p->main, p->spare}) {
		if (s == nullptr)
			continue;
		sheaf_flush(c, lc, s);
		sheaf_free(c, lc, s);
	}
	p->main = p->spare = nullptr;
	p->main_objs = nullptr;
	main_size_set(p, 0);
	__atomic_store_n(&p->main_top, 0, __ATOMIC_RELAXED);
	p->socket_tag = 0;
	p->capacity = 0;
}

} // namespace dslab

using namespace dslab;

extern "C" void *dslab_alloc_slow(struct dslab_cache *cache, unsigned flags)
{
	BusyScope busy;
	(void)flags; /* zeroing and checks are done by the inline caller */
	if (!valid_cache(cache)) {
		rte_errno = EINVAL;
		return nullptr;
	}
	dslab_cache_impl *c = cache->impl;
	unsigned lc = rte_lcore_id();
	if (lc >= RTE_MAX_LCORE || !pcs_ready(c, &cache->pcs[lc], lc))
		return alloc_unbound(c, lc);

	dslab_pcs *p = &cache->pcs[lc];
	if (p->main_size == 0 && !replace_empty_main(c, p, lc)) {
		stat_add(c, lc, STAT_alloc_fail, 1);
		rte_errno = ENOMEM;
		return nullptr;
	}
	const uint32_t n = p->main_size - 1;
	__atomic_store_n(&p->main_size, n, __ATOMIC_RELAXED); /* counted by it */
	return p->main_objs[n];
}

extern "C" void dslab_free_slow(struct dslab_cache *cache, void *obj)
{
	if (obj == nullptr)
		return;
	BusyScope busy;
	if (!valid_cache(cache)) {
		DSLAB_LOG(ERR, "dslab_free(%p, %p): not a cache; object not freed", (void *)cache, obj);
		rte_errno = EINVAL;
		return;
	}
	Chunk *ch = chunk_for_free(cache, obj, "dslab_free");
	if (ch != nullptr)
		free_one(cache->impl, obj, ch->socket);
}

extern "C" unsigned dslab_alloc_bulk_slow(struct dslab_cache *cache, unsigned flags, unsigned n,
					  void **objs)
{
	BusyScope busy;
	if (!valid_cache(cache) || objs == nullptr) {
		rte_errno = EINVAL;
		return 0;
	}
	if (n == 0)
		return 0;
	dslab_cache_impl *c = cache->impl;
	unsigned lc = rte_lcore_id();

	if (lc >= RTE_MAX_LCORE || !pcs_ready(c, &cache->pcs[lc], lc)) {
		int socket = topo_caller_socket();
		if (lc >= RTE_MAX_LCORE && c->capacity != 0) {
			if (shared_alloc(c, socket, n, objs) == 0) {
				stat_add(c, lc, STAT_alloc_fail, 1);
				rte_errno = ENOMEM;
				return 0;
			}
		} else {
			unsigned got = node_alloc(c, socket, n, objs);
			if (got < n) {
				if (got != 0)
					node_free(c, socket, got, objs);
				stat_add(c, lc, STAT_alloc_fail, 1);
				rte_errno = ENOMEM;
				return 0;
			}
		}
		stat_add(c, lc, STAT_alloc_slowpath, n);
	} else {
		dslab_pcs *p = &cache->pcs[lc];
		unsigned got = 0;
		while (got < n) {
			if (p->main_size == 0 && !replace_empty_main(c, p, lc)) {
				for (unsigned i = 0; i < got; i++)
					free_one(c, objs[i], pcs_socket(p));
				/* Those frees were not the user's, nor the allocations:
				 * one step back of free_cpu_sheaf takes back both. */
				DSLAB_STAT_ADD_(p->free_cpu_sheaf, (uint64_t)0 - got);
				stat_add(c, lc, STAT_alloc_fail, 1);
				rte_errno = ENOMEM;
				return 0;
			}
			unsigned k = RTE_MIN(p->main_size, n - got);
			for (unsigned i = 0; i < k; i++)
				objs[got + i] = p->main_objs[p->main_size - 1 - i];
			__atomic_store_n(&p->main_size, p->main_size - k, __ATOMIC_RELAXED);
			got += k;
		}
	}
	for (unsigned i = 0; i < n; i++)
		hand_out(c, objs[i], flags);
	return n;
}

extern "C" void dslab_free_bulk_slow(struct dslab_cache *cache, unsigned n, void **objs)
{
	if (n == 0)
		return;
	if (objs == nullptr) {
		rte_errno = EINVAL;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
#if DSLAB_CHECKED
		if (objs[i] == nullptr || !dslab_check_free_(cache, objs[i]))
			continue;
		dslab_free_slow(cache, objs[i]);
#else
		/* The burst had a NULL, remote or foreign object, or did not
		 * fit: each object takes its own path, local ones the fast one. */
		dslab_free(cache, objs[i]);
#endif
	}
}

extern "C" void *dslab_alloc_node(struct dslab_cache *cache, unsigned flags, int socket)
{
	BusyScope busy;
	if (!valid_cache(cache)) {
		rte_errno = EINVAL;
		return nullptr;
	}
	if (socket == SOCKET_ID_ANY || socket == topo_caller_socket())
		return dslab_alloc(cache, flags);
	if (!topo_socket_valid(socket)) {
		rte_errno = EINVAL;
		return nullptr;
	}
	void *obj = alloc_direct(cache->impl, rte_lcore_id(), socket, STAT_alloc_node_remote);
	return obj != nullptr ? hand_out(cache->impl, obj, flags) : nullptr;
}
