/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Page map: O(1) from any address to its chunk, cache and socket, with no
 * size argument (SLUB's virt_to_slab()).
 *
 * A flat array with one word per 2 MiB granule of the 47-bit user address
 * space: 2^26 words, 512 MiB of address space reserved with MAP_NORESERVE at
 * load time, of which only the pages holding used entries are ever touched
 * (one 4 KiB page covers 1 GiB of memory). One load answers "is this dslab
 * memory, whose, which socket": a pointer dslab never handed out reads 0 and
 * is never followed. Reserved in a constructor so that the inline fast paths
 * need no "initialised?" test; if the reservation fails nentries stays 0,
 * every lookup misses and dslab_init() fails.
 *
 * Entries are written with release stores (R2) when a chunk is registered,
 * before any of its objects exists, and read with acquire loads (A2) in
 * dslab_pm_entry_(); a chunk is unregistered only when no object of it is
 * outside its slabs.
 */
#include <sys/mman.h>

#include "internal.h"

struct dslab_pagemap dslab_pagemap;

namespace dslab {
namespace {

constexpr unsigned kAddrBits = 47;
constexpr uintptr_t kEntries = (uintptr_t)1 << (kAddrBits - DSLAB_PM_SHIFT);

__attribute__((constructor)) void pm_reserve()
{
	void *p = mmap(nullptr, kEntries * sizeof(uintptr_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return;
	dslab_pagemap.map = static_cast<uintptr_t *>(p);
	dslab_pagemap.nentries = kEntries;
}

} // namespace

bool pm_ready() { return dslab_pagemap.nentries != 0; }

void pm_set(uintptr_t base, size_t size, Chunk *chunk, uint32_t tag)
{
	uintptr_t e = (uintptr_t)chunk | tag;

	for (uintptr_t i = base >> DSLAB_PM_SHIFT; i < (base + size) >> DSLAB_PM_SHIFT; i++)
		__atomic_store_n(&dslab_pagemap.map[i], e, __ATOMIC_RELEASE); /* R2 */
}

void pm_clear(uintptr_t base, size_t size)
{
	for (uintptr_t i = base >> DSLAB_PM_SHIFT; i < (base + size) >> DSLAB_PM_SHIFT; i++)
		__atomic_store_n(&dslab_pagemap.map[i], 0, __ATOMIC_RELEASE);
}

} // namespace dslab
