/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Cache lifecycle and the library's init/fini: argument checks, geometry
 * (object stride, slab size, sheaf capacity), the registry of caches,
 * destroy (flush every lcore's sheaves and the barns, report leaks), shrink,
 * and the lcore uninit callback that flushes a departing lcore's sheaves.
 *
 * Lock: registry_lock (a mutex; first in the lock order, see internal.h)
 * protects the registry list and names. Destroy and fini assume, as their
 * contract says, that no thread uses the cache meanwhile.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include <rte_common.h>

#include "internal.h"

int dslab::logtype = RTE_LOGTYPE_EAL;

namespace dslab {
namespace {

RTE_INIT(dslab_log_init)
{
	int t = rte_log_register_type_and_pick_level("lib.dslab", RTE_LOG_INFO);
	if (t >= 0)
		logtype = t;
}

std::mutex g_registry;
/* dslab_cache_walk() callbacks under way on this thread (refused_in_walk()). */
__thread uint32_t t_walk;
dslab_cache_impl *g_first, *g_last;
bool g_init;
void *g_lcore_cb;

uint32_t default_capacity(uint32_t obj_size)
{
	/* Larger objects, fewer per sheaf: a sheaf's objects span a similar
	 * amount of memory, as the kernel sizes its sheaves by object size. */
	if (obj_size <= 256)
		return 128;
	if (obj_size <= 1024)
		return 64;
	if (obj_size <= 4096)
		return 32;
	return 16;
}

int check_args(const char *name, size_t size, const dslab_cache_args *a)
{
	if (!g_init) {
		DSLAB_LOG(ERR, "dslab_cache_create before dslab_init");
		return -EINVAL;
	}
	if (name == nullptr || name[0] == '\0' || strnlen(name, DSLAB_NAME_SIZE) >= DSLAB_NAME_SIZE) {
		DSLAB_LOG(ERR, "cache name missing or longer than %d bytes", DSLAB_NAME_SIZE - 1);
		return -EINVAL;
	}
	if (size == 0 || size > DSLAB_CACHE_MAX_OBJ_SIZE) {
		DSLAB_LOG(ERR, "cache %s: object size %zu not in 1..%u", name, size,
			  DSLAB_CACHE_MAX_OBJ_SIZE);
		return -EINVAL;
	}
	if (a == nullptr)
		return 0;
	for (uint64_t r : a->reserved)
		if (r != 0)
			return -EINVAL;
	if (a->align != 0 && (!rte_is_power_of_2(a->align) || a->align > 4096)) {
		DSLAB_LOG(ERR, "cache %s: alignment %zu is not a power of two up to 4096", name,
			  a->align);
		return -EINVAL;
	}
	if (a->sheaf_capacity != DSLAB_SHEAF_CAPACITY_AUTO &&
	    a->sheaf_capacity > DSLAB_SHEAF_CAPACITY_MAX) {
		DSLAB_LOG(ERR, "cache %s: sheaf capacity %u above %u", name, a->sheaf_capacity,
			  DSLAB_SHEAF_CAPACITY_MAX);
		return -EINVAL;
	}
	if (a->flags & ~(DSLAB_CACHE_ZERO | DSLAB_CACHE_HWCACHE_ALIGN))
		return -EINVAL;
	return 0;
}

dslab_cache_impl *find(const char *name)
{
	for (dslab_cache_impl *c = g_first; c != nullptr; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return nullptr;
}

void free_cache(dslab_cache_impl *c)
{
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++)
		delete c->barn[s];
	free(c->stats);
	free(c->pub);
	delete c;
}

void lcore_uninit(unsigned lcore_id, void *)
{
	/* A registered thread leaves (or EAL cleans up): its sheaves go back,
	 * its deferred frees are done, its remote batches sent. Marked busy
	 * throughout (on the leaving thread itself, under
	 * rte_thread_unregister()): a signal handler's nolock call must not
	 * use the sheaves being flushed; it defers (to the shared list,
	 * below). */
	BusyMark busy;
	rcu_lcore_uninit(lcore_id);
	deferred_run(lcore_id);
	remote_lcore_release(lcore_id);
	{
		/* rte_thread_unregister() from a dslab_cache_walk() callback:
		 * this thread holds the registry already (relocking it was a
		 * self-deadlock), and the walk, on this thread, is inside its
		 * callback, not between two caches. */
		std::unique_lock<std::mutex> g(g_registry, std::defer_lock);
		if (t_walk == 0)
			g.lock();
		for (dslab_cache_impl *c = g_first; c != nullptr; c = c->next)
			pcs_flush(c, lcore_id);
	}
	/* What handlers deferred meanwhile: to the shared list, which every
	 * lcore's dslab_quiescent() runs (this lcore id may not come back). */
	deferred_hand_to_shared(lcore_id);
}

} // namespace

bool initialised() { return g_init; }
bool in_walk() { return t_walk != 0; }

bool refused_in_walk(const char *fn)
{
	if (likely(t_walk == 0))
		return false;
	DSLAB_LOG(ERR, "%s called from a dslab_cache_walk() callback, which holds the cache "
		  "registry: refused", fn);
	rte_errno = EDEADLK;
	return true;
}
void registry_lock() { g_registry.lock(); }
void registry_unlock() { g_registry.unlock(); }
dslab_cache_impl *registry_first() { return g_first; }

dslab_cache *cache_create(const char *name, size_t size, const dslab_cache_args *args, bool kmalloc)
{
	int rc = check_args(name, size, args);
	if (rc < 0) {
		rte_errno = -rc;
		return nullptr;
	}
	dslab_cache_args a{};
	a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_AUTO;
	if (args != nullptr)
		a = *args;

	size_t align = a.align;
	if (align == 0)
		align = RTE_MIN(RTE_MAX((size_t)8, (size_t)1 << __builtin_ctzl(size)), (size_t)64);
	if (a.flags & DSLAB_CACHE_HWCACHE_ALIGN)
		align = RTE_MAX(align, (size_t)RTE_CACHE_LINE_SIZE);
	align = RTE_MAX(align, sizeof(void *)); /* pointer-aligned objects */
	size_t usable = RTE_ALIGN_CEIL(size, DSLAB_CHECKED ? sizeof(void *) : align);
	/* Checked builds put a redzone of at least 8 bytes after each object. */
	size_t stride = RTE_ALIGN_CEIL(usable + (DSLAB_CHECKED ? 8 : 0), align);
	/* A slab holds at least 16 objects, is at least 64 KiB, at most a chunk. */
	size_t slab = RTE_MAX((size_t)64 << 10, rte_align64pow2(stride * 16));
	slab = RTE_MIN(slab, chunk_size());

	auto *c = unlikely(fault_hit(DSLAB_FAULT_META)) ? nullptr : new (std::nothrow) dslab_cache_impl();
	auto *pub = static_cast<dslab_cache *>(aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(dslab_cache)));
	auto *stats = static_cast<LcoreStats *>(
		aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(LcoreStats) * (RTE_MAX_LCORE + 1)));
	if (c == nullptr || pub == nullptr || stats == nullptr) {
		delete c;
		free(pub);
		free(stats);
		rte_errno = ENOMEM;
		return nullptr;
	}
	memset(pub, 0, sizeof(*pub));
	memset(stats, 0, sizeof(LcoreStats) * (RTE_MAX_LCORE + 1));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->obj_size = (uint32_t)stride;
	c->size = (uint32_t)usable;
	c->align = (uint32_t)align;
	c->capacity = a.sheaf_capacity == DSLAB_SHEAF_CAPACITY_AUTO ? default_capacity(c->size)
								   : a.sheaf_capacity;
	c->max_full = a.barn_max_full ? a.barn_max_full : 10;
	c->max_empty = a.barn_max_empty ? a.barn_max_empty : 10;
	c->flags = a.flags;
	c->slab_shift = (uint32_t)rte_log2_u64(slab);
	c->objs_per_slab = (uint32_t)(slab / stride);
	c->map_words = (c->objs_per_slab + 63) / 64;
	c->recip = (((uint64_t)1 << 42) + stride - 1) / stride;
	c->kmalloc = kmalloc;
	c->pub = pub;
	c->stats = stats;
	pub->obj_size = c->size;
	pub->flags = a.flags & DSLAB_CACHE_ZERO ? DSLAB_F_ZERO : 0;
	pub->impl = c;
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		if (!topo_socket_valid(s))
			continue;
		c->node[s] = node_create(s);
		c->barn[s] = barn_create();
		if (c->node[s] == nullptr || c->barn[s] == nullptr) {
			for (int t = 0; t <= s; t++)
				delete c->node[t];
			free_cache(c);
			rte_errno = ENOMEM;
			return nullptr;
		}
	}

	std::lock_guard<std::mutex> g(g_registry);
	if (find(name) != nullptr) {
		for (int s = 0; s < RTE_MAX_NUMA_NODES; s++)
			delete c->node[s];
		free_cache(c);
		DSLAB_LOG(ERR, "cache name %s already in use", name);
		rte_errno = EEXIST;
		return nullptr;
	}
	if (g_last != nullptr)
		g_last->next = c;
	else
		g_first = c;
	g_last = c;
	return pub;
}

bool cache_unlink(dslab_cache_impl *c)
{
	std::lock_guard<std::mutex> g(g_registry);
	dslab_cache_impl **pp = &g_first, *prev = nullptr;
	while (*pp != nullptr && *pp != c) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == nullptr) {
		DSLAB_LOG(ERR, "cache %p: not a live cache", (void *)c->pub);
		return false;
	}
	*pp = c->next;
	c->next = nullptr;
	if (g_last == c)
		g_last = prev;
	return true;
}

/* Caches destroyed with objects still allocated: kept, reachable (a late
 * free must find its cache, and leak checkers see memory kept on purpose,
 * not lost), never reused. */
std::mutex g_leaked_lock;
dslab_cache_impl *g_leaked;

void cache_reap(dslab_cache_impl *c)
{
	/* Remote frees of lcores no barrier asked may still come home
	 * (remote.cpp, late arrivals): they go to the slabs from here on. */
	remote_reap_begin(c);
	for (unsigned lc = 0; lc < RTE_MAX_LCORE; lc++)
		pcs_flush(c, lc);
	uint64_t leaked = 0;
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		if (c->node[s] == nullptr)
			continue;
		shared_flush(c, s);
		barn_drain(c, s);
		leaked += node_destroy(c, s);
	}
	if (leaked != 0) {
		/* Keep the cache's memory: leaked objects may still be referenced,
		 * and a late free must find a cache, not freed memory. */
		DSLAB_LOG(ERR, "cache %s destroyed with %" PRIu64 " objects still allocated", c->name,
			  leaked);
		/* Some may be freed already, by an lcore of another socket
		 * whose batch no barrier asked for (remote.cpp, late
		 * arrivals): say how many and what avoids it. */
		struct dslab_cache_stats st;
		stats_read(c, &st);
		if (st.objects_in_transit != 0)
			DSLAB_LOG(ERR, "cache %s: %" PRIu64 " of them were freed on another socket and "
				  "are still in transit home: in the remote batch of an lcore not "
				  "online in dslab's QSBR, which sends it at its next "
				  "dslab_quiescent() (call it after the last free to a cache "
				  "before destroying the cache)", c->name, st.objects_in_transit);
		std::lock_guard<std::mutex> g(g_leaked_lock);
		c->next = g_leaked;
		g_leaked = c;
		return;
	}
	/* A drain that brought the last object home may still count it in
	 * c's stats. */
	remote_drain_wait();
	free_cache(c);
}

} // namespace dslab

using namespace dslab;

extern "C" int dslab_init(const struct dslab_config *cfg)
{
	dslab_config def{};
	if (g_init)
		return fail(EALREADY);
	if (cfg == nullptr)
		cfg = &def;
	if (rte_lcore_count() == 0) {
		DSLAB_LOG(ERR, "dslab_init must follow rte_eal_init");
		return fail(EINVAL);
	}
	for (uint64_t r : cfg->reserved)
		if (r != 0)
			return fail(EINVAL);
	size_t chunk = cfg->chunk_size ? cfg->chunk_size : (size_t)2 << 20;
	if (!rte_is_power_of_2(chunk) || chunk < ((size_t)1 << DSLAB_PM_SHIFT) || chunk > ((size_t)1 << 30) ||
	    cfg->mem_source > DSLAB_MEM_MMAP || cfg->remote_free > DSLAB_REMOTE_DIRECT ||
	    (cfg->remote_ring_size != 0 && !rte_is_power_of_2(cfg->remote_ring_size))) {
		DSLAB_LOG(ERR, "bad configuration (chunk_size %zu, mem_source %d, remote_free %u, "
			  "remote_ring_size %u)", chunk, (int)cfg->mem_source, cfg->remote_free,
			  cfg->remote_ring_size);
		return fail(EINVAL);
	}
	if (!pm_ready()) {
		DSLAB_LOG(ERR, "could not reserve the page map");
		return fail(ENOMEM);
	}
	int rc = topo_init(cfg->topology);
	if (rc < 0)
		return fail(-rc);
	memsrc_init(cfg->mem_source, chunk);
	rc = rcu_init(cfg->rcu_flush_us ? cfg->rcu_flush_us : 1000,
		      cfg->rcu_stall_ms ? cfg->rcu_stall_ms : 1000);
	if (rc < 0) {
		topo_fini();
		return fail(-rc);
	}
	rc = remote_init(cfg->remote_free, cfg->remote_ring_size);
	if (rc < 0) {
		rcu_fini();
		topo_fini();
		return fail(-rc);
	}
	g_init = true;
	rc = kmalloc_init();
	if (rc < 0) {
		g_init = false;
		remote_fini();
		rcu_fini();
		topo_fini();
		return fail(-rc);
	}
	telemetry_init();
	g_lcore_cb = rte_lcore_callback_register("dslab", nullptr, lcore_uninit, nullptr);
	if (g_lcore_cb == nullptr)
		DSLAB_LOG(WARNING, "no lcore callback: unregistered threads keep their sheaves");
	return 0;
}

extern "C" void dslab_fini(void)
{
	if (!g_init || dslab::refused_in_walk("dslab_fini"))
		return;
	/* Every object waiting for a grace period is freed first, and the
	 * caches of pending asynchronous destroys are reaped. */
	rcu_fini();
	if (g_lcore_cb != nullptr) /* flushes every initialised lcore's sheaves */
		rte_lcore_callback_unregister(g_lcore_cb);
	g_lcore_cb = nullptr;
	/* Batches of lcores that never went online, and the rings. */
	remote_fini();
	deferred_run_all();
	kmalloc_fini();
	for (;;) {
		dslab_cache *pub;
		{
			std::lock_guard<std::mutex> g(g_registry);
			if (g_first == nullptr)
				break;
			pub = g_first->pub;
		}
		if (cache_unlink(pub->impl))
			cache_reap(pub->impl);
	}
	g_init = false;
	topo_fini();
}

extern "C" struct dslab_cache *dslab_cache_create(const char *name, size_t size,
						  const struct dslab_cache_args *args)
{
	if (dslab::refused_in_walk("dslab_cache_create"))
		return nullptr;
	return cache_create(name, size, args, false);
}

extern "C" void dslab_cache_destroy(struct dslab_cache *cache)
{
	dslab::BusyScope busy;
	if (cache == nullptr || dslab::refused_in_walk("dslab_cache_destroy"))
		return;
	if (!valid_cache(cache) || cache->impl->kmalloc) {
		DSLAB_LOG(ERR, "dslab_cache_destroy(%p): not a cache that can be destroyed", (void *)cache);
		rte_errno = EINVAL;
		return;
	}
	if (rcu_caller_in_qsbr()) {
		/* Its barrier would wait for this lcore's own quiescent report
		 * (dslab_rcu_online(), or online in the variable directly). */
		DSLAB_LOG(ERR, "dslab_cache_destroy(%s) on lcore %u, an online rcu reader, could "
			  "wait on itself: not destroyed; use dslab_cache_destroy_async()",
			  cache->impl->name, rte_lcore_id());
		rte_errno = EDEADLK;
		return;
	}
	/* Upstream Linux: destroy waits for the cache's kfree_rcu barrier. */
	rcu_barrier_on(cache->impl);
	if (cache_unlink(cache->impl))
		cache_reap(cache->impl);
}

extern "C" int dslab_cache_destroy_async(struct dslab_cache *cache)
{
	dslab::BusyScope busy;
	if (dslab::refused_in_walk("dslab_cache_destroy_async"))
		return -EDEADLK;
	if (!valid_cache(cache) || cache->impl->kmalloc)
		return fail(EINVAL);
	/* The reaper first: once unlinked, the cache must reach it. */
	int rc = reaper_start();
	if (rc < 0)
		return fail(-rc);
	if (!cache_unlink(cache->impl))
		return fail(EINVAL);
	destroy_async(cache->impl);
	return 0;
}

extern "C" struct dslab_cache *dslab_cache_lookup(const char *name)
{
	if (name == nullptr) {
		rte_errno = EINVAL;
		return nullptr;
	}
	if (dslab::refused_in_walk("dslab_cache_lookup"))
		return nullptr;
	std::lock_guard<std::mutex> g(g_registry);
	dslab_cache_impl *c = find(name);
	if (c == nullptr) {
		rte_errno = ENOENT;
		return nullptr;
	}
	return c->pub;
}

extern "C" const char *dslab_cache_name(const struct dslab_cache *cache)
{
	return valid_cache(cache) ? cache->impl->name : nullptr;
}

extern "C" size_t dslab_cache_obj_size(const struct dslab_cache *cache)
{
	return valid_cache(cache) ? cache->impl->size : 0;
}

extern "C" size_t dslab_cache_shrink(struct dslab_cache *cache)
{
	dslab::BusyScope busy;
	/* A safe point first: frees nolock calls deferred give back their
	 * slabs too, those of threads with no lcore id included (the shared
	 * list, as dslab_quiescent() runs it). */
	const unsigned lc = rte_lcore_id();
	dslab::deferred_poll(lc);
	if (lc < RTE_MAX_LCORE)
		dslab::deferred_poll(RTE_MAX_LCORE);
	if (!valid_cache(cache)) {
		rte_errno = EINVAL;
		return 0;
	}
	dslab_cache_impl *c = cache->impl;
	/* Chunks go back as soon as flushed objects empty them, so count
	 * what the nodes gave back during the whole call. */
	uint64_t before = 0, after = 0;
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++)
		if (c->node[s] != nullptr)
			before += node_released(c, s);
	if (lc < RTE_MAX_LCORE)
		pcs_flush(c, lc);
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		if (c->node[s] == nullptr)
			continue;
		shared_flush(c, s);
		barn_drain(c, s);
		node_shrink(c, s);
		after += node_released(c, s);
	}
	return (size_t)(after - before);
}

extern "C" int dslab_cache_walk(int (*fn)(struct dslab_cache *, void *), void *arg)
{
	if (fn == nullptr)
		return fail(EINVAL);
	if (dslab::refused_in_walk("dslab_cache_walk"))
		return -EDEADLK;
	std::lock_guard<std::mutex> g(g_registry);
	t_walk++;
	int rc = 0;
	for (dslab_cache_impl *c = g_first; c != nullptr && rc == 0; c = c->next)
		rc = fn(c->pub, arg);
	t_walk--;
	return rc;
}
