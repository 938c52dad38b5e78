/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Slabs: a cache's objects on one socket (SLUB's kmem_cache_node).
 *
 * Chunks come from the memory source and are cut into power-of-two slabs,
 * set up lazily (carved) one at a time; within a slab, objects are handed out
 * first from its free bitmap and then from its never-used tail, so a new slab
 * touches no memory until its objects are used. A slab that becomes empty is
 * carved afresh, in address order. Free objects are bits in the slab's
 * bitmap, not a list linked through the objects: after a million objects
 * were freed in random order, a freelist costs a cache miss per allocation
 * (123 ns per object in the working-set benchmark), the bitmap none. Slab,
 * chunk and bitmap descriptors live outside the chunk: the per-object
 * overhead is alignment and one bit.
 *
 * Lock: Node::lock protects everything here, including the Chunk and Slab
 * fields (but not the page map, which is written before a chunk is linked
 * and cleared after it is unlinked). Memory source calls happen unlocked.
 *
 * Invariants, per node: inuse == sum of slab inuse; a slab is on the partial
 * list iff it has a free object; a chunk is idle iff busy_slabs == 0, and at
 * most one idle chunk is kept (more are given back as they become idle).
 */
#include <cstdlib>
#include <cstring>
#include <new>

#include "internal.h"

namespace dslab {
namespace {

void partial_add(Node *nd, Slab *s)
{
	s->prev = nullptr;
	s->next = nd->partial;
	if (nd->partial != nullptr)
		nd->partial->prev = s;
	nd->partial = s;
	s->on_partial = true;
}

void partial_del(Node *nd, Slab *s)
{
	if (s->prev != nullptr)
		s->prev->next = s->next;
	else
		nd->partial = s->next;
	if (s->next != nullptr)
		s->next->prev = s->prev;
	s->prev = s->next = nullptr;
	s->on_partial = false;
}

/* Unlocked: map a new chunk and describe it. */
Chunk *chunk_new(dslab_cache_impl *c, Node *nd)
{
	size_t csz = chunk_size();
	uint32_t nslabs = (uint32_t)(csz >> c->slab_shift);
	size_t maps = (size_t)nslabs * c->map_words * sizeof(uint64_t);
	size_t dsz = sizeof(Chunk) + nslabs * sizeof(Slab) + maps;
	Region r;

	void *mem = unlikely(fault_hit(DSLAB_FAULT_META)) ? nullptr
			: aligned_alloc(64, RTE_ALIGN_CEIL(dsz, (size_t)64));
	if (mem == nullptr)
		return nullptr;
	if (!memsrc_alloc(csz, nd->socket, &r)) {
		free(mem);
		return nullptr;
	}
	memset(mem, 0, dsz);
	Chunk *ch = static_cast<Chunk *>(mem);
	ch->pub.cache = c->pub;
	ch->impl = c;
	ch->node = nd;
	ch->region = r;
	ch->socket = nd->socket;
	ch->slab_shift = c->slab_shift;
	ch->nslabs = nslabs;
	uint64_t *map = reinterpret_cast<uint64_t *>(&ch->slabs[nslabs]);
	for (uint32_t i = 0; i < nslabs; i++)
		ch->slabs[i].freemap = map + (size_t)i * c->map_words;
	pm_set((uintptr_t)r.base, r.size, ch, DSLAB_PM_TAG(nd->socket));
	return ch;
}

/* Unlocked, after the chunk was unlinked: nothing of it is referenced. */
void chunk_release(Chunk *ch)
{
	pm_clear((uintptr_t)ch->region.base, ch->region.size);
	memsrc_free(ch->region);
#if DSLAB_CHECKED
	for (uint32_t i = 0; i < ch->carved_slabs; i++)
		checked_slab_fini(&ch->slabs[i]);
#endif
	free(ch);
}

/* Locked: unlink a chunk with no busy slab from its node; returns the number
 * of its slabs still backed by memory (those whose pages shrink gave back
 * were counted as freed then). */
uint32_t chunk_unlink(Node *nd, Chunk *ch)
{
	uint32_t active = 0;

	for (uint32_t i = 0; i < ch->carved_slabs; i++) {
		if (ch->slabs[i].on_partial)
			partial_del(nd, &ch->slabs[i]);
		active += ch->slabs[i].active;
	}
	Chunk **pp = &nd->chunks;
	while (*pp != ch)
		pp = &(*pp)->next;
	*pp = ch->next;
	nd->nr_chunks--;
	nd->idle_chunks--;
	nd->nr_slabs -= active;
	size_t held = ch->region.size -
		((size_t)(ch->carved_slabs - active) << ch->slab_shift);
	nd->bytes -= held;
	nd->released += held;
	return active;
}

/* Locked: set up the next slab of the newest chunk (only the newest can have
 * uncarved slabs: a chunk is added only when carving failed). */
Slab *slab_carve(dslab_cache_impl *c, Node *nd)
{
	Chunk *ch = nd->chunks;

	if (ch == nullptr || ch->carved_slabs == ch->nslabs)
		return nullptr;
	Slab *s = &ch->slabs[ch->carved_slabs];
#if DSLAB_CHECKED
	if (!checked_slab_init(c, s))
		return nullptr;
#endif
	ch->carved_slabs++;
	s->chunk = ch;
	s->base = (char *)ch->region.base + ((size_t)(s - ch->slabs) << ch->slab_shift);
	s->active = true;
#if DSLAB_CHECKED
	checked_slab_poison(c, s);
#endif
	nd->nr_slabs++;
	partial_add(nd, s);
	stat_add(c, rte_lcore_id(), STAT_alloc_slab, 1);
	return s;
}

/* Locked: take up to n objects. */
unsigned take(dslab_cache_impl *c, Node *nd, unsigned n, void **objs, bool may_carve = true)
{
	unsigned got = 0;

	while (got < n) {
		Slab *s = nd->partial;
		if (s == nullptr && (!may_carve || (s = slab_carve(c, nd)) == nullptr))
			break;
		Chunk *ch = s->chunk;
		unsigned before = got;
		if (unlikely(!s->active)) {
			/* Its pages were given back by shrink: carved afresh. */
			s->active = true;
			nd->nr_slabs++;
			nd->bytes += (size_t)1 << ch->slab_shift;
			stat_add(c, rte_lcore_id(), STAT_alloc_slab, 1);
		}
		/* Freed objects first, lowest address first. */
		uint32_t avail = s->carved - s->inuse;
		uint32_t w = s->scan;
		while (avail != 0 && got < n) {
			RTE_ASSERT(w < c->map_words);
			uint64_t m = s->freemap[w];
			while (m != 0 && got < n) {
				uint32_t idx = w * 64 + (uint32_t)__builtin_ctzll(m);
				m &= m - 1;
				objs[got++] = s->base + (size_t)idx * c->obj_size;
				avail--;
			}
			s->freemap[w] = m;
			if (m == 0)
				w++;
		}
		s->scan = w;
		/* Then the never-used tail. */
		while (got < n && s->carved < c->objs_per_slab)
			objs[got++] = s->base + (size_t)s->carved++ * c->obj_size;
		if (got > before && s->inuse == 0 && ch->busy_slabs++ == 0)
			nd->idle_chunks--;
		s->inuse += got - before;
		if (avail == 0 && s->carved == c->objs_per_slab)
			partial_del(nd, s);
	}
	nd->inuse += got;
	return got;
}

} // namespace

Node *node_create(int socket)
{
	Node *nd = new (std::nothrow) Node();
	if (nd != nullptr)
		nd->socket = socket;
	return nd;
}

unsigned node_alloc(dslab_cache_impl *c, int socket, unsigned n, void **objs)
{
	Node *nd = c->node[socket];
	unsigned got = 0;
	Chunk *fresh = nullptr;

	for (;;) {
		{
			Guard<SpinLock> g(nd->lock);
			if (fresh != nullptr) {
				fresh->next = nd->chunks;
				nd->chunks = fresh;
				nd->nr_chunks++;
				nd->idle_chunks++;
				nd->bytes += fresh->region.size;
			}
			got += take(c, nd, n - got, objs + got);
		}
		if (got == n || (fresh = chunk_new(c, nd)) == nullptr)
			return got;
	}
}

namespace {

/* Locked: put n objects back; chunks to give back (only if may_release)
 * are unlinked onto *idle. Returns the slabs they had. */
uint64_t put_back(dslab_cache_impl *c, Node *nd, unsigned n, void *const *objs, Chunk **idle,
		  bool may_release)
{
	uint64_t slabs = 0;

	for (unsigned i = 0; i < n; i++) {
		void *o = objs[i];
		Chunk *ch = pm_chunk(o);
		Slab *s = slab_of(ch, o);

		RTE_ASSERT(ch != nullptr && ch->node == nd && s->inuse > 0);
		if (!s->on_partial)
			partial_add(nd, s);
		if (s->inuse > 1) {
			uint32_t idx = (uint32_t)(((uintptr_t)((char *)o - s->base) *
						   c->recip) >> 42);
			s->freemap[idx / 64] |= 1ull << (idx % 64);
			if (idx / 64 < s->scan)
				s->scan = idx / 64;
		} else {
			/* Empty: carve it afresh, in address order. */
			memset(s->freemap, 0, c->map_words * sizeof(uint64_t));
			s->scan = 0;
			s->carved = 0;
		}
		if (--s->inuse == 0 && --ch->busy_slabs == 0) {
			/* One idle chunk stays for the next allocation, unless
			 * none is to come: a cache being reaped, or kept after
			 * a leak, whose chunks late remote frees empty. */
			bool give_back = ++nd->idle_chunks > 1 || cache_dying(c);
			if (give_back && may_release) {
				slabs += chunk_unlink(nd, ch);
				ch->next = *idle;
				*idle = ch;
			}
		}
	}
	nd->inuse -= n;
	return slabs;
}

} // namespace

void node_free(dslab_cache_impl *c, int socket, unsigned n, void *const *objs)
{
	Node *nd = c->node[socket];
	Chunk *idle = nullptr; /* chunks to give back, linked through next */
	uint64_t slabs;

	{
		Guard<SpinLock> g(nd->lock);
		slabs = put_back(c, nd, n, objs, &idle, true);
	}
	if (idle != nullptr)
		stat_add(c, rte_lcore_id(), STAT_free_slab, slabs);
	for (Chunk *ch = idle, *next; ch != nullptr; ch = next) {
		next = ch->next;
		chunk_release(ch);
	}
}

bool node_free_try(dslab_cache_impl *c, int socket, void *obj)
{
	Node *nd = c->node[socket];
	Chunk *idle = nullptr;

	if (!nd->lock.try_lock())
		return false;
	put_back(c, nd, 1, &obj, &idle, false);
	nd->lock.unlock();
	return true;
}

unsigned node_alloc_try(dslab_cache_impl *c, int socket, unsigned n, void **objs)
{
	Node *nd = c->node[socket];
	unsigned got;

	if (nd == nullptr || !nd->lock.try_lock())
		return 0;
	/* Carving a slab allocates its check bitmap in checked builds. */
	got = take(c, nd, n, objs, !DSLAB_CHECKED);
	nd->lock.unlock();
	return got;
}

uint64_t node_released(dslab_cache_impl *c, int socket)
{
	Node *nd = c->node[socket];
	Guard<SpinLock> g(nd->lock);
	return nd->released;
}

void node_shrink(dslab_cache_impl *c, int socket)
{
	Node *nd = c->node[socket];
	Chunk *idle = nullptr;
	uint64_t slabs = 0;

	{
		Guard<SpinLock> g(nd->lock);
		for (Chunk *ch = nd->chunks, *next; ch != nullptr; ch = next) {
			next = ch->next;
			if (ch->busy_slabs == 0) {
				slabs += chunk_unlink(nd, ch);
				ch->next = idle;
				idle = ch;
				continue;
			}
			/* Checked builds keep the poison of free objects. */
			if (DSLAB_CHECKED || !memsrc_can_release_pages(ch->region.source))
				continue;
			/* Empty slabs of busy chunks: give their pages back and let
			 * them be carved afresh (system call under the node lock:
			 * shrink is rare and only this cache's socket waits). */
			for (uint32_t i = 0; i < ch->carved_slabs; i++) {
				Slab *s = &ch->slabs[i];
				if (s->inuse != 0 || !s->active)
					continue;
				size_t len = (size_t)1 << ch->slab_shift;
				memsrc_release_pages(s->base, len);
				RTE_ASSERT(s->carved == 0); /* reset when it emptied */
				s->active = false;
				nd->nr_slabs--;
				nd->bytes -= len;
				nd->released += len;
				slabs++;
			}
		}
	}
	for (Chunk *ch = idle, *next; ch != nullptr; ch = next) {
		next = ch->next;
		chunk_release(ch);
	}
	stat_add(c, rte_lcore_id(), STAT_free_slab, slabs);
}

uint64_t node_destroy(dslab_cache_impl *c, int socket)
{
	Node *nd = c->node[socket];
	Chunk *idle = nullptr;
	uint64_t leaked, busy = 0;

	{
		/* Locked: a late remote free may land meanwhile (remote.cpp). */
		Guard<SpinLock> g(nd->lock);
		leaked = nd->inuse;
		for (Chunk *ch = nd->chunks, *next; ch != nullptr; ch = next) {
			next = ch->next;
			if (ch->busy_slabs != 0) {
				busy += ch->busy_slabs;
				continue;
			}
			chunk_unlink(nd, ch);
			ch->next = idle;
			idle = ch;
		}
	}
	if (leaked != 0)
		DSLAB_LOG(ERR, "cache %s: %" PRIu64 " objects leaked in %" PRIu64
			  " slabs on socket %d; their memory is kept",
			  c->name, leaked, busy, socket);
	for (Chunk *ch = idle, *next; ch != nullptr; ch = next) {
		next = ch->next;
		chunk_release(ch);
	}
	if (leaked == 0) {
		/* No object reaches it any more; a kept cache (another socket
		 * leaked) must not name it. */
		c->node[socket] = nullptr;
		delete nd;
	}
	return leaked;
}

} // namespace dslab
