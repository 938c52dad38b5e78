/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_FAULT_H
#define DSLAB_FAULT_H

/**
 * @file
 * Fault injection, for tests: make dslab's memory sources fail at chosen
 * points, to check that every API returns its documented error and that the
 * allocator stays consistent (no leak, no double hand-out) and works fully
 * once memory returns. The hooks sit on slow paths only (chunk, large region,
 * sheaf and descriptor allocation); the fast paths carry no cost.
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Where a fault can be injected. */
enum dslab_fault_site {
	/** Slab chunks and large (kvmalloc) regions: DPDK memory or mmap. */
	DSLAB_FAULT_MEMSRC = 0,
	/** Sheaf allocation (new empty sheaves, prefilled sheaves). */
	DSLAB_FAULT_SHEAF = 1,
	/** Descriptors: chunk and cache metadata. */
	DSLAB_FAULT_META = 2,
	DSLAB_FAULT_NR_SITES
};

/**
 * Arm a site: the next @p after attempts succeed, then @p count fail
 * (UINT64_MAX: all), then attempts succeed again. @p count 0 disarms it.
 * @return 0, or -EINVAL (bad site) with rte_errno set.
 * Thread safety: any thread; attempts racing with the call see the old or
 * the new setting.
 */
int dslab_fault_set(enum dslab_fault_site site, uint64_t after, uint64_t count);

/**
 * Faults injected at a site since the library was loaded.
 * Thread safety: any thread.
 */
uint64_t dslab_fault_injected(enum dslab_fault_site site);

#ifdef __cplusplus
}
#endif

#endif /* DSLAB_FAULT_H */
