/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * kmalloc: size-class caches from 8 B to DSLAB_KMALLOC_MAX_SIZE, and large
 * allocations (kvmalloc, and kmalloc above the classes) in their own
 * chunk-aligned regions, registered in the page map so that one kfree()
 * frees them all, finding the owner from the address alone.
 *
 * The fast table dslab_kmalloc_fast[] maps sizes up to 1 KiB to their
 * class in one load; it is written at init and fini only.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.h"

struct dslab_cache *dslab_kmalloc_fast[DSLAB_KMALLOC_FAST_MAX / 8];

namespace dslab {
namespace {

constexpr uint32_t kSizes[] = {8,    16,   32,   48,   64,    96,    128,   192,
			       256,  384,  512,  768,  1024,  1536,  2048,  3072,
			       4096, 6144, 8192, 12288, 16384, 24576, 32768};
constexpr unsigned kClasses = sizeof(kSizes) / sizeof(kSizes[0]);
static_assert(kSizes[kClasses - 1] == DSLAB_KMALLOC_MAX_SIZE, "last class is the max size");
dslab_cache *g_class[kClasses];

dslab_cache *class_of(size_t size)
{
	for (unsigned i = 0; i < kClasses; i++)
		if (size <= kSizes[i])
			return g_class[i];
	return nullptr;
}

} // namespace

dslab_cache *kmalloc_class(size_t size) { return class_of(size); }

int kmalloc_init()
{
	for (unsigned i = 0; i < kClasses; i++) {
		char name[DSLAB_NAME_SIZE];
		snprintf(name, sizeof(name), "kmalloc-%u", kSizes[i]);
		g_class[i] = cache_create(name, kSizes[i], nullptr, true);
		if (g_class[i] == nullptr) {
			int err = rte_errno;
			kmalloc_fini();
			return -err;
		}
	}
	for (unsigned i = 0; i < DSLAB_KMALLOC_FAST_MAX / 8; i++)
		dslab_kmalloc_fast[i] = class_of((i + 1) * 8);
	return 0;
}

void kmalloc_fini()
{
	memset(dslab_kmalloc_fast, 0, sizeof(dslab_kmalloc_fast));
	for (auto &c : g_class) {
		if (c != nullptr && cache_unlink(c->impl))
			cache_reap(c->impl);
		c = nullptr;
	}
}

void *large_alloc(size_t size, unsigned flags, int socket)
{
	size_t csz = chunk_size();
	if (size > SIZE_MAX - csz) {
		rte_errno = ENOMEM;
		return nullptr;
	}
	auto *ch = unlikely(fault_hit(DSLAB_FAULT_META)) ? nullptr
			: static_cast<Chunk *>(aligned_alloc(64, sizeof(Chunk)));
	if (ch == nullptr) {
		rte_errno = ENOMEM;
		return nullptr;
	}
	memset(ch, 0, sizeof(*ch));
	if (!memsrc_alloc(RTE_ALIGN_CEIL(size, csz), socket, &ch->region)) {
		free(ch);
		rte_errno = ENOMEM;
		return nullptr;
	}
	ch->socket = socket;
	ch->user_size = size;
	if ((flags & DSLAB_F_ZERO) && ch->region.source == Source::Dpdk)
		memset(ch->region.base, 0, size); /* fresh mmap memory is zero already */
	pm_set((uintptr_t)ch->region.base, ch->region.size, ch, (uint32_t)socket);
	return ch->region.base;
}

void large_free(Chunk *ch, const void *obj)
{
	if (obj != ch->region.base) {
		DSLAB_LOG(ERR, "kfree(%p): inside a large allocation at %p: not freed", obj,
			  ch->region.base);
		rte_errno = EINVAL;
		return;
	}
	pm_clear((uintptr_t)ch->region.base, ch->region.size);
	memsrc_free(ch->region);
	free(ch);
}

} // namespace dslab

using namespace dslab;

extern "C" void *dslab_kmalloc_node(size_t size, unsigned flags, int socket)
{
	BusyScope busy;
	if (!initialised() || size == 0) {
		rte_errno = EINVAL;
		return nullptr;
	}
	if (socket != SOCKET_ID_ANY && !topo_socket_valid(socket)) {
		rte_errno = EINVAL;
		return nullptr;
	}
	if (size > DSLAB_KMALLOC_MAX_SIZE)
		return large_alloc(size, flags, socket == SOCKET_ID_ANY ? topo_caller_socket() : socket);
	dslab_cache *c = class_of(size);
	return socket == SOCKET_ID_ANY ? dslab_alloc(c, flags) : dslab_alloc_node(c, flags, socket);
}

extern "C" void *dslab_kmalloc_slow(size_t size, unsigned flags, int socket)
{
	return dslab_kmalloc_node(size, flags, socket);
}

extern "C" void *dslab_kvmalloc(size_t size, unsigned flags)
{
	return dslab_kmalloc_node(size, flags, SOCKET_ID_ANY);
}

extern "C" void dslab_kfree_slow(const void *obj)
{
	if (obj == nullptr)
		return;
	BusyScope busy;
	Chunk *ch = pm_chunk(obj);
	if (ch == nullptr)
		report_foreign("dslab_kfree", obj);
	else if (ch->pub.cache == nullptr)
		large_free(ch, obj);
	/* else: a cache object the inline path already dealt with (checked
	 * builds stop here after reporting). */
}

extern "C" void dslab_kvfree(const void *obj) { dslab_kfree(obj); }

extern "C" size_t dslab_ksize(const void *obj)
{
	if (obj == nullptr)
		return 0;
	Chunk *ch = pm_chunk(obj);
	if (ch == nullptr) {
		report_foreign("dslab_ksize", obj);
		return 0;
	}
	if (ch->pub.cache == nullptr)
		return obj == ch->region.base ? ch->region.size : 0;
	return obj_index(ch->impl, ch, obj) != UINT32_MAX ? ch->impl->size : 0;
}
