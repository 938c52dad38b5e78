/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
#ifndef DSLAB_TEST_UTIL_H
#define DSLAB_TEST_UTIL_H

/*
 * Helpers shared by the test files of dslab_core_test (and dslab_rcu_test):
 * counters, their deltas and exact checks of them; owned caches; running a
 * function on real lcores; a capture of lib.dslab's log.
 *
 * The binary runs 4 lcores (0 main, 1-3 workers) with 2 LOGICAL sockets
 * (DSLAB_TOPOLOGY=0:0,1:0,2:1,3:1): lcores 0,1 are socket 0, 2,3 socket 1.
 */

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <csignal>
#include <ctime>

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_memory.h>
#include <rte_pause.h>

#include <dslab.h>

namespace dslab_test {

/* Make fn SIGRTMIN's handler. */
inline bool set_timer_handler(void (*fn)(int))
{
	struct sigaction sa {};
	sa.sa_handler = fn;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGRTMIN, &sa, nullptr) == 0;
}

/* Start a SIGRTMIN timer aimed at the calling thread, every period_ns
 * (under a second). */
inline bool start_thread_timer(timer_t *timer, long period_ns)
{
	struct sigevent sev {};
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, timer) != 0)
		return false;
	struct itimerspec its {};
	its.it_interval.tv_nsec = period_ns;
	its.it_value.tv_nsec = period_ns;
	return timer_settime(*timer, 0, &its, nullptr) == 0;
}

/* Rounds of a race test: DSLAB_RACE_ROUNDS when set and not empty
 * (scripts/test.sh sets it lower for the sanitizers, and exports it empty
 * otherwise), else def; at least min, so that the test stays meaningful. */
inline unsigned race_rounds(unsigned def, unsigned min = 1)
{
	const char *env = getenv("DSLAB_RACE_ROUNDS");
	unsigned n = env != nullptr && *env != '\0' ? (unsigned)strtoul(env, nullptr, 10) : def;
	return n < min ? min : n;
}

inline struct dslab_cache_stats stats_of(const dslab_cache *c)
{
	struct dslab_cache_stats s;
	memset(&s, 0, sizeof(s));
	EXPECT_EQ(dslab_cache_stats(c, &s), 0);
	return s;
}

/* Counter by counter, a - b (gauges keep a's value). */
inline struct dslab_cache_stats delta(struct dslab_cache_stats a, const struct dslab_cache_stats &b)
{
#define DSLAB_TEST_SUB_(name, doc) a.name -= b.name;
	DSLAB_STATS_FIELDS(DSLAB_TEST_SUB_)
#undef DSLAB_TEST_SUB_
	return a;
}

/* The objects held by an lcore's main (both ends) and spare sheaves (all lcores must
 * be stopped: the layout is dslab_pcs.h's). */
inline std::vector<void *> sheaf_objects(dslab_cache *c, unsigned lc)
{
	std::vector<void *> v;
	const dslab_pcs *p = &c->pcs[lc];
	if (p->capacity == 0)
		return v;
	v.insert(v.end(), p->main_objs, p->main_objs + p->main_size);
	v.insert(v.end(), p->main_objs + p->main_top, p->main_objs + p->main->capacity);
	if (p->spare != nullptr)
		v.insert(v.end(), p->spare->objects, p->spare->objects + p->spare->size);
	return v;
}

/* Objects every allocation path handed out, and every free path took back
 * (the library's books: allocated = freed + objects_in_use). */
inline uint64_t lib_allocs(const struct dslab_cache_stats &s)
{
	return s.alloc_cpu_sheaf + s.alloc_slowpath + s.alloc_node_remote + s.alloc_from_sheaf +
	       s.alloc_nolock;
}

inline uint64_t lib_frees(const struct dslab_cache_stats &s)
{
	return s.free_cpu_sheaf + s.free_slowpath + s.free_remote_node + s.free_remote_ring +
	       s.free_nolock + s.free_rcu_sheaf + s.free_rcu_sheaf_fail;
}

/* A counter the check does not look at. */
constexpr uint64_t kAny = UINT64_MAX;

struct Want {
	const char *name;
	uint64_t value;
};

/*
 * Every counter of @p d (a delta) must be the value named in @p want, or 0
 * when not named (kAny: not checked). So a step that should only pop the
 * main sheaf is checked to have moved nothing else.
 */
inline void expect_counters(const struct dslab_cache_stats &d, std::initializer_list<Want> want,
			    const std::string &where)
{
	for (const Want &w : want) {
		bool known = false;
#define DSLAB_TEST_KNOWN_(field, doc) known |= strcmp(w.name, #field) == 0;
		DSLAB_STATS_FIELDS(DSLAB_TEST_KNOWN_)
#undef DSLAB_TEST_KNOWN_
		EXPECT_TRUE(known) << "test bug: no counter named " << w.name;
	}
#define DSLAB_TEST_CHECK_(field, doc)                                                  \
	{                                                                              \
		uint64_t exp = 0;                                                      \
		for (const Want &w : want)                                             \
			if (strcmp(w.name, #field) == 0)                               \
				exp = w.value;                                         \
		if (exp != kAny) {                                                     \
			EXPECT_EQ(d.field, exp) << where << ": counter " #field;       \
		}                                                                      \
	}
	DSLAB_STATS_FIELDS(DSLAB_TEST_CHECK_)
#undef DSLAB_TEST_CHECK_
}

/* Runs a step and checks the counters it moved. */
template <class F>
void step(dslab_cache *c, const std::string &where, std::initializer_list<Want> want, F f)
{
	struct dslab_cache_stats before = stats_of(c);
	f();
	expect_counters(delta(stats_of(c), before), want, where);
}

/* Counters (not gauges) of two readings are equal. */
inline void expect_same_counters(const struct dslab_cache_stats &a,
				 const struct dslab_cache_stats &b, const std::string &where)
{
#define DSLAB_TEST_SAME_(field, doc) EXPECT_EQ(a.field, b.field) << where << ": counter " #field;
	DSLAB_STATS_FIELDS(DSLAB_TEST_SAME_)
#undef DSLAB_TEST_SAME_
	EXPECT_EQ(a.objects_in_use, b.objects_in_use) << where;
}

/* Stats of every cache (kmalloc caches included), by name. */
inline std::map<std::string, struct dslab_cache_stats> all_stats()
{
	std::map<std::string, struct dslab_cache_stats> m;
	dslab_cache_walk(
		[](dslab_cache *c, void *arg) {
			auto *mm = static_cast<std::map<std::string, struct dslab_cache_stats> *>(arg);
			(*mm)[dslab_cache_name(c)] = stats_of(c);
			return 0;
		},
		&m);
	return m;
}

/* Sum of objects_in_use over the kmalloc size classes. */
inline uint64_t kmalloc_in_use()
{
	uint64_t n = 0;
	for (auto &[name, s] : all_stats())
		if (name.rfind("kmalloc-", 0) == 0)
			n += s.objects_in_use;
	return n;
}

/* A cache destroyed when the test ends, failed or not. */
struct CacheDestroy {
	void operator()(dslab_cache *c) const { dslab_cache_destroy(c); }
};
using CachePtr = std::unique_ptr<dslab_cache, CacheDestroy>;

inline CachePtr make_cache(const char *name, size_t size, uint32_t capacity,
			   uint32_t max_full = 0, uint32_t max_empty = 0, uint32_t flags = 0,
			   size_t align = 0)
{
	dslab_cache_args a{};
	a.sheaf_capacity = capacity;
	a.barn_max_full = max_full;
	a.barn_max_empty = max_empty;
	a.flags = flags;
	a.align = align;
	dslab_cache *c = dslab_cache_create(name, size, &a);
	EXPECT_NE(c, nullptr) << name << ": rte_errno " << rte_errno;
	return CachePtr(c);
}

/*
 * Run f() (returning int) on each lcore listed, the main lcore (0)
 * included if listed, and wait for the workers. The main lcore's share runs
 * in the calling thread after the workers were launched.
 */
template <class F> void run_on(std::initializer_list<unsigned> lcores, F &f)
{
	bool on_main = false;
	std::vector<unsigned> launched;
	for (unsigned lc : lcores) {
		if (lc == rte_get_main_lcore()) {
			on_main = true;
			continue;
		}
		int rc = rte_eal_remote_launch([](void *a) { return (*static_cast<F *>(a))(); }, &f, lc);
		EXPECT_EQ(rc, 0) << "launch on lcore " << lc;
		if (rc == 0)
			launched.push_back(lc);
	}
	if (on_main) {
		EXPECT_EQ(f(), 0) << "main lcore";
	}
	for (unsigned lc : launched) {
		EXPECT_EQ(rte_eal_wait_lcore(lc), 0) << "lcore " << lc;
	}
}

/* Stops and joins the worker lcores when a test ends, failed or not, so
 * that a failure does not leave lcores running into the next test. */
struct StopWorkers {
	std::atomic<bool> &stop;
	~StopWorkers()
	{
		stop.store(true, std::memory_order_release);
		rte_eal_mp_wait_lcore();
	}
};

/* Launch f() (returning int) on a worker lcore; rte_eal_wait_lcore() or
 * StopWorkers collects it. */
template <class F> void launch(unsigned lcore, F *f)
{
	ASSERT_EQ(rte_eal_remote_launch([](void *a) { return (*static_cast<F *>(a))(); }, f, lcore), 0);
}

/* Spin (yielding: 4 lcores share 2 cores) until v reaches n. */
template <class A> void wait_for(const A &v, long n)
{
	while ((long)v.load() < n)
		sched_yield();
}

class LogCapture {
public:
	LogCapture()
	{
		old_ = rte_log_get_stream();
		f_ = open_memstream(&buf_, &len_);
		rte_openlog_stream(f_);
	}
	~LogCapture()
	{
		rte_openlog_stream(old_);
		fclose(f_);
		free(buf_);
	}
	std::string text()
	{
		fflush(f_);
		return std::string(buf_, len_);
	}

private:
	FILE *old_, *f_;
	char *buf_ = nullptr;
	size_t len_ = 0;
};

inline std::string ptr_str(const void *p)
{
	char b[32];
	snprintf(b, sizeof(b), "%p", p);
	return b;
}

} // namespace dslab_test

#endif
