/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Memory source: chunk-aligned regions of one socket's memory.
 *
 * DPDK memory (rte_malloc_socket) when EAL has per-socket memory, i.e.
 * hugepages, and the topology is DPDK's own. Without hugepages DPDK has a
 * single heap and rte_malloc_socket() ignores the socket, so there (and for
 * logical sockets) regions are anonymous mmap bound to the socket's NUMA
 * node with mbind() and advised for transparent huge pages. Called with no
 * dslab lock held: it may sleep in the kernel.
 */
#include <cerrno>

#include <numaif.h>
#include <sys/mman.h>

#include <rte_eal.h>
#include <rte_malloc.h>

#include "internal.h"

namespace dslab {
namespace {

size_t g_chunk = 2u << 20;
bool g_dpdk;
constexpr uintptr_t kAddrLimit = (uintptr_t)1 << 47; /* the page map's reach */

bool mmap_alloc(size_t size, int socket, Region *out)
{
	size_t len = size + g_chunk;
	void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	uintptr_t start = (uintptr_t)p;
	uintptr_t base = RTE_ALIGN_CEIL(start, (uintptr_t)g_chunk);
	if (base > start)
		munmap(p, base - start);
	if (start + len > base + size)
		munmap((void *)(base + size), start + len - (base + size));
	if (base + size > kAddrLimit) {
		munmap((void *)base, size);
		return false;
	}
	int node = topo_numa_node(socket);
	if (node >= 0) {
		unsigned long mask[RTE_MAX_NUMA_NODES / (8 * sizeof(unsigned long)) + 1] = {};
		mask[node / (8 * sizeof(unsigned long))] = 1UL << (node % (8 * sizeof(unsigned long)));
		if (mbind((void *)base, size, MPOL_BIND, mask, sizeof(mask) * 8, 0) != 0)
			DSLAB_LOG(WARNING, "mbind to NUMA node %d failed (errno %d)", node, errno);
	}
	(void)madvise((void *)base, size, MADV_HUGEPAGE);
	*out = Region{(void *)base, size, Source::Mmap};
	return true;
}

/* A chunk-aligned rte_malloc: the heap splits the alignment padding in front
 * of the chunk off as a free element, so other rte_malloc users can still
 * use it, but a run of chunk allocations alone can take up to twice their
 * size of the socket's heap. Not measured yet (no hugepages here). */
bool dpdk_alloc(size_t size, int socket, Region *out)
{
	void *p = rte_malloc_socket("dslab", size, (unsigned)g_chunk,
				    topo_overridden() ? SOCKET_ID_ANY : socket);
	if (p == nullptr)
		return false;
	if ((uintptr_t)p + size > kAddrLimit) {
		rte_free(p);
		return false;
	}
	*out = Region{p, size, Source::Dpdk};
	return true;
}

} // namespace

void memsrc_init(enum dslab_mem_source mode, size_t chunk)
{
	g_chunk = chunk;
	g_dpdk = mode == DSLAB_MEM_DPDK ||
		 (mode == DSLAB_MEM_AUTO && rte_eal_has_hugepages() && !topo_overridden());
	DSLAB_LOG(INFO, "slab memory from %s, chunks of %zu KiB",
		  g_dpdk ? "DPDK (rte_malloc_socket)" : "mmap + mbind", g_chunk >> 10);
}

size_t chunk_size() { return g_chunk; }

bool memsrc_alloc(size_t size, int socket, Region *out)
{
	if (unlikely(fault_hit(DSLAB_FAULT_MEMSRC)))
		return false;
	return g_dpdk ? dpdk_alloc(size, socket, out) : mmap_alloc(size, socket, out);
}

void memsrc_free(const Region &r)
{
	if (r.source == Source::Dpdk)
		rte_free(r.base);
	else
		munmap(r.base, r.size);
}

bool memsrc_can_release_pages(Source s) { return s == Source::Mmap; }

void memsrc_release_pages(void *addr, size_t len) { (void)madvise(addr, len, MADV_DONTNEED); }

} // namespace dslab
