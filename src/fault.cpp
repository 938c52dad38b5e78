/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Fault injection (dslab_fault.h). Each site has a pass budget and a fail
 * budget, consumed with atomic RMW; an unarmed site costs one relaxed load.
 * Only slow paths (memory source, sheaf and descriptor allocation) ask.
 * The race-window callback is one atomic pointer (its context another).
 */
#include "dslab_fault.h"
#include "internal.h"

namespace dslab {
namespace {

struct Site {
	std::atomic<bool> armed{false};
	std::atomic<uint64_t> pass{0};
	std::atomic<uint64_t> fail{0};
	std::atomic<uint64_t> injected{0};
};
Site g_sites[DSLAB_FAULT_NR_SITES];

/* Take one from a budget; false when it was empty. */
bool take(std::atomic<uint64_t> &budget)
{
	uint64_t v = budget.load(std::memory_order_relaxed);
	do {
		if (v == 0)
			return false;
		if (v == UINT64_MAX)
			return true; /* unlimited */
	} while (!budget.compare_exchange_weak(v, v - 1, std::memory_order_relaxed));
	return true;
}

std::atomic<void *> g_race_ctx{nullptr};

} // namespace

std::atomic<dslab_race_hook_t> g_race_hook{nullptr};

void race_call(dslab_race_hook_t fn, dslab_race_point p, unsigned arg)
{
	fn(p, arg, g_race_ctx.load(std::memory_order_acquire));
}

bool fault_hit(dslab_fault_site site)
{
	Site &s = g_sites[site];
	if (likely(!s.armed.load(std::memory_order_relaxed)))
		return false;
	if (take(s.pass))
		return false;
	if (!take(s.fail)) {
		s.armed.store(false, std::memory_order_relaxed);
		return false;
	}
	s.injected.fetch_add(1, std::memory_order_relaxed);
	return true;
}

} // namespace dslab

extern "C" int dslab_fault_set(enum dslab_fault_site site, uint64_t after, uint64_t count)
{
	if ((unsigned)site >= DSLAB_FAULT_NR_SITES)
		return dslab::fail(EINVAL);
	dslab::Site &s = dslab::g_sites[site];
	s.armed.store(false, std::memory_order_relaxed);
	s.pass.store(after, std::memory_order_relaxed);
	s.fail.store(count, std::memory_order_relaxed);
	s.armed.store(count != 0, std::memory_order_relaxed);
	return 0;
}

extern "C" uint64_t dslab_fault_injected(enum dslab_fault_site site)
{
	if ((unsigned)site >= DSLAB_FAULT_NR_SITES)
		return 0;
	return dslab::g_sites[site].injected.load(std::memory_order_relaxed);
}

extern "C" int dslab_race_hook_set(dslab_race_hook_t fn, void *ctx)
{
	/* The context before the callback: a thread that sees the new
	 * callback (acquire) sees its context. */
	dslab::g_race_ctx.store(ctx, std::memory_order_release);
	dslab::g_race_hook.store(fn, std::memory_order_release);
	return 0;
}
