/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * ThreadSanitizer annotations for DPDK's lcore launch and wait, for test
 * programs built with -fsanitize=thread (compile this file into the
 * program; it needs -ldl on old glibc).
 *
 * Why: librte_eal is not instrumented. rte_eal_remote_launch() hands the
 * function to the worker, and rte_eal_wait_lcore() waits for it, through
 * __atomic operations inside librte_eal, which TSan does not see. So every
 * write a worker made before returning looks to TSan as if it raced with
 * what the main lcore does after rte_eal_wait_lcore() (reading results,
 * dslab_cache_destroy(), dslab_fini()), and the reports land in dslab's and
 * the test's own code, where no suppression may go.
 *
 * What: these definitions interpose on librte_eal's (the program's symbols
 * come first) and call the real ones through dlsym(RTLD_NEXT). The launch
 * does __tsan_release() before handing the function over and the worker
 * __tsan_acquire() before running it; the worker __tsan_release()s when the
 * function returns and the waiter __tsan_acquire()s after the real wait.
 * These are exactly the happens-before edges that DPDK documents ("after
 * rte_eal_wait_lcore() the caller can assume the worker finished"), made
 * visible; nothing is suppressed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_launch.h>
#include <rte_lcore.h>

#include <sanitizer/tsan_interface.h>

struct slot {
	lcore_function_t *f;
	void *arg;
	char started; /* sync object: launch -> worker start */
	char done;    /* sync object: worker end -> wait */
};

static struct slot slots[RTE_MAX_LCORE];

static void *real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		fprintf(stderr, "tsan_launch: %s not found: %s\n", name, dlerror());
		abort();
	}
	return p;
}

static int trampoline(void *unused)
{
	struct slot *s = &slots[rte_lcore_id()];

	(void)unused;
	__tsan_acquire(&s->started);
	int ret = s->f(s->arg);
	__tsan_release(&s->done);
	return ret;
}

int rte_eal_remote_launch(lcore_function_t *f, void *arg, unsigned worker_id)
{
	static int (*launch)(lcore_function_t *, void *, unsigned);

	if (launch == NULL)
		launch = (int (*)(lcore_function_t *, void *, unsigned))real("rte_eal_remote_launch");
	if (f == trampoline || worker_id >= RTE_MAX_LCORE) /* from our mp launch below */
		return launch(f, arg, worker_id);
	slots[worker_id].f = f;
	slots[worker_id].arg = arg;
	__tsan_release(&slots[worker_id].started);
	return launch(trampoline, NULL, worker_id);
}

int rte_eal_mp_remote_launch(lcore_function_t *f, void *arg, enum rte_rmt_call_main_t call_main)
{
	static int (*launch)(lcore_function_t *, void *, enum rte_rmt_call_main_t);
	unsigned lc;

	if (launch == NULL)
		launch = (int (*)(lcore_function_t *, void *, enum rte_rmt_call_main_t))real(
			"rte_eal_mp_remote_launch");
	RTE_LCORE_FOREACH(lc) {
		if (lc != rte_get_main_lcore() && rte_eal_get_lcore_state(lc) != WAIT)
			return -EBUSY; /* as the real one, before touching any slot */
	}
	RTE_LCORE_FOREACH(lc) {
		slots[lc].f = f;
		slots[lc].arg = arg;
		__tsan_release(&slots[lc].started);
	}
	return launch(trampoline, NULL, call_main);
}

int rte_eal_wait_lcore(unsigned worker_id)
{
	static int (*wait)(unsigned);

	if (wait == NULL)
		wait = (int (*)(unsigned))real("rte_eal_wait_lcore");
	int ret = wait(worker_id);
	if (worker_id < RTE_MAX_LCORE)
		__tsan_acquire(&slots[worker_id].done);
	return ret;
}

void rte_eal_mp_wait_lcore(void)
{
	static void (*wait)(void);
	unsigned lc;

	if (wait == NULL)
		wait = (void (*)(void))real("rte_eal_mp_wait_lcore");
	wait();
	RTE_LCORE_FOREACH(lc)
		__tsan_acquire(&slots[lc].done);
}
