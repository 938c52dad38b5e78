/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * libFuzzer target for the public dslab API.
 *
 * The input is a program: a sequence of operations, each an opcode byte and
 * its argument bytes (see enum Op and the Reader; missing bytes read as 0).
 * The operations run against the real allocator and against a small model
 * of what the caller holds:
 *   - up to 4 caches with random geometry (object size, alignment, sheaf
 *     capacity including 0, small barn limits, flags);
 *   - the live objects, each with its owner (a cache, a kmalloc size class,
 *     or a large kmalloc/kvmalloc region), the size asked for, and a fill
 *     pattern written at allocation;
 *   - prefilled sheaves handed out by dslab_prefill_sheaf().
 * After every step the invariants are checked:
 *   - every live object still holds its pattern (in full when it is freed,
 *     its first and last bytes after every step);
 *   - no address is live twice and no two live objects overlap;
 *   - zeroed allocations (DSLAB_F_ZERO, DSLAB_CACHE_ZERO, kzalloc) are zero;
 *   - dslab_ksize() >= the size asked for, alignment as requested;
 *   - dslab_cache_stats().objects_in_use equals the model's count, for our
 *     caches and for the kmalloc classes;
 *   - allocation fails only while a fault is injected (dslab_fault_set()),
 *     and then with rte_errno = ENOMEM and nothing lost or handed out twice;
 *   - dslab logs an error only when the program did something wrong on
 *     purpose (foreign pointer, double free, ...), and then it does log it
 *     (the log is captured: see on_log_line()); a leaky destroy reports
 *     exactly the number of objects leaked.
 * A violation calls __builtin_trap(), which libFuzzer reports as a crash.
 * At the end of every input everything is freed and every cache destroyed,
 * so inputs are independent (except for the allocator's internal state:
 * sheaves and slabs of the kmalloc classes, chunk reuse).
 *
 * dslab runs with two LOGICAL sockets by default (topology override
 * DSLAB_TOPOLOGY="0:0,1:1": lcore 0, the only EAL lcore, on logical socket
 * 0; logical socket 1 has no running lcore), so that dslab_alloc_node() and
 * dslab_kmalloc_node() reach a remote socket and frees go home. Set
 * DSLAB_TOPOLOGY yourself to change it ("0:0": one socket).
 */
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include <dslab.h>
#include <dslab_fault.h>
#include <dslab_rcu.h>

namespace {

/* ---- failure reporting ------------------------------------------------- */

[[noreturn]] __attribute__((format(printf, 3, 4))) void
violation(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\ndslab_api_fuzz: INVARIANT VIOLATED at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	__builtin_trap();
}

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond))                                                     \
			violation(__FILE__, __LINE__, "%s", #cond);              \
	} while (0)
#define CHECKF(cond, ...)                                                        \
	do {                                                                     \
		if (!(cond))                                                     \
			violation(__FILE__, __LINE__, __VA_ARGS__);              \
	} while (0)

/* A departure from the documented contract that is no memory or accounting
 * error (a wrong error code, say): reported once per site, and fatal only
 * with FUZZ_STRICT=1, so that fuzzing goes on looking for worse. */
bool g_strict;
#define CONTRACT(cond, ...)                                                      \
	do {                                                                     \
		static bool told_;                                               \
		if (!(cond)) {                                                   \
			if (g_strict)                                            \
				violation(__FILE__, __LINE__, __VA_ARGS__);      \
			if (!told_) {                                            \
				told_ = true;                                    \
				fprintf(stderr, "dslab_api_fuzz: CONTRACT "      \
					"(%s:%d): ", __FILE__, __LINE__);        \
				fprintf(stderr, __VA_ARGS__);                    \
				fputc('\n', stderr);                             \
			}                                                        \
		}                                                                \
	} while (0)

/* ---- limits: one input's work is bounded ------------------------------- */

constexpr unsigned kMaxCaches = 4;
constexpr unsigned kMaxSheaves = 4;
constexpr size_t kMaxObjs = 4096;          /* live objects */
constexpr unsigned kMaxLarge = 8;          /* live large regions */
constexpr size_t kMaxLiveBytes = 64u << 20;
constexpr size_t kMaxLiveBytesDpdk = 16u << 20; /* FUZZ_MEM=dpdk: EAL's 512 MiB */
constexpr unsigned kMaxOps = 1024;         /* operations per input */
constexpr uint64_t kWorkBudget = 1u << 15; /* objects allocated per input */
constexpr uint64_t kTouchBudget = 32u << 20; /* bytes allocated per input */
constexpr unsigned kMaxLeaks = 64;         /* leaky destroys per process */
constexpr unsigned kMaxLeaksDpdk = 16;     /* the same, FUZZ_MEM=dpdk */
constexpr size_t kMaxLeakBytes = 256u << 10; /* objects one leaky destroy keeps */
constexpr size_t kMaxCacheObj = 70000;     /* object sizes of our caches */
constexpr size_t kMaxKmalloc = 100000;     /* kmalloc sizes */
constexpr size_t kMaxKvmalloc = 4u << 20;  /* kvmalloc sizes */
constexpr unsigned kLightWindow = 128;     /* objects spot-checked per step */
constexpr size_t kMaxSheafBytes = 8u << 20; /* objects a prefill may ask for */

/* ---- input reader ------------------------------------------------------- */

struct Reader {
	const uint8_t *p;
	size_t n, i;

	bool done() const { return i >= n; }
	uint8_t u8() { return i < n ? p[i++] : 0; }
	uint16_t u16()
	{
		uint16_t lo = u8();
		return (uint16_t)(lo | (uint16_t)u8() << 8);
	}
	uint32_t u32()
	{
		uint32_t lo = u16();
		return lo | (uint32_t)u16() << 16;
	}
};

/* ---- fill patterns ------------------------------------------------------ */

/* Objects up to kWhole bytes carry a pattern over all their bytes; larger
 * ones over their first and last kEdge bytes. */
constexpr size_t kWhole = 65536;
constexpr size_t kEdge = 4096;
uint8_t g_pat[kWhole + 2 * kEdge];

void pat_init()
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < sizeof(g_pat); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		g_pat[i] = (uint8_t)(x >> 24);
	}
}

struct Span {
	size_t off, len;
	const uint8_t *pat;
};

/* The patterned ranges of an object of @p len bytes with pattern @p tag. */
unsigned spans(size_t len, uint32_t tag, Span out[2])
{
	size_t o = tag % kEdge;

	if (len <= kWhole) {
		out[0] = Span{0, len, &g_pat[o]};
		return 1;
	}
	out[0] = Span{0, kEdge, &g_pat[o]};
	out[1] = Span{len - kEdge, kEdge, &g_pat[o + kEdge]};
	return 2;
}

/* ---- the model ---------------------------------------------------------- */

enum : int {
	kOwnerKmalloc = -1, /* a kmalloc size class */
	kOwnerLarge = -2,   /* a large kmalloc/kvmalloc region */
};

struct CacheModel {
	dslab_cache *c;
	char name[DSLAB_NAME_SIZE];
	size_t size;       /* asked for */
	size_t align;      /* alignment every object must have */
	uint32_t cap;      /* asked for (DSLAB_SHEAF_CAPACITY_AUTO: not checked) */
	size_t usable;     /* dslab_cache_obj_size() */
	bool zero;         /* DSLAB_CACHE_ZERO */
	uint64_t live;     /* objects of the model */
	bool dirty;        /* used since its counters were last checked */
};

struct Obj {
	void *p;
	int owner;      /* cache slot, kOwnerKmalloc or kOwnerLarge */
	int kclass;     /* kmalloc class index (kOwnerKmalloc) */
	size_t req;     /* size asked for */
	size_t span;    /* patterned bytes: usable size, or req for large */
	size_t extent;  /* dslab_ksize() */
	uint32_t tag;
};

struct SheafModel {
	dslab_sheaf *s;
	int owner;
};

struct KClass {
	dslab_cache *c;
	size_t size;
	uint64_t base;  /* objects_in_use when the fuzzer started */
	uint64_t live;  /* objects of the model */
	bool dirty;     /* used since its counters were last checked */
	bool touched;   /* used in this input */
};

struct Model {
	CacheModel caches[kMaxCaches];
	std::vector<Obj> objs;
	std::map<uintptr_t, size_t> by_addr; /* address -> index in objs */
	std::vector<SheafModel> sheaves;
	unsigned nlarge;
	size_t live_bytes;
	uint64_t work;
	uint64_t touched_bytes;
	bool fault_armed;
	bool off_lcore;      /* running on a thread with no lcore id */
	unsigned light_next; /* rotating spot-check window */
};

Model M;
std::vector<KClass> g_kclass;
/* Leaked caches: kept reachable for LeakSanitizer (a plain array, which no
 * destructor empties before the exit-time leak check). */
dslab_cache *g_leaked[kMaxLeaks];
unsigned g_leaks;
unsigned g_max_leaks = kMaxLeaks;
size_t g_max_live_bytes = kMaxLiveBytes;
unsigned g_max_large = kMaxLarge;
uint32_t g_tag;
unsigned g_name_seq;
int g_static_var = 42; /* a static address for foreign-pointer frees */

/* ---- log capture -------------------------------------------------------- */

/* What dslab may report during the current call. */
enum class Expect { None, Foreign, DoubleFree, Interior, WrongOwner, Leak, Any };
Expect g_expect = Expect::None;
unsigned g_reports;   /* matching reports since the expectation was set */
uint64_t g_leak_sum;  /* objects named by "destroyed with N objects" */
char g_line[2048];
size_t g_line_len;

/* Reports that mean dslab itself is wrong, whatever the program did. */
bool internal_error(const char *line)
{
	return strstr(line, "while it was allocated") != nullptr ||
	       strstr(line, "written after it was freed") != nullptr ||
	       strstr(line, "write past the end") != nullptr;
}

void on_log_line(const char *line)
{
	if (strncmp(line, "dslab: ", 7) != 0) {
		fputs(line, stderr); /* EAL and others: pass through */
		return;
	}
	bool ok = false;
	switch (g_expect) {
	case Expect::None:
		break;
	case Expect::Foreign:
		ok = strstr(line, "not memory dslab handed out") != nullptr;
		break;
	case Expect::DoubleFree:
		ok = strstr(line, "double free") != nullptr ||
		     strstr(line, "not memory dslab handed out") != nullptr;
		break;
	case Expect::Interior:
		ok = strstr(line, "not the start of an object") != nullptr ||
		     strstr(line, "inside a large allocation") != nullptr;
		break;
	case Expect::WrongOwner:
		ok = strstr(line, "belongs to") != nullptr;
		break;
	case Expect::Leak: {
		const char *p = strstr(line, "destroyed with ");
		if (p != nullptr) {
			g_leak_sum += strtoull(p + strlen("destroyed with "), nullptr, 10);
			ok = true;
		} else {
			ok = strstr(line, "leaked in") != nullptr;
		}
		break;
	}
	case Expect::Any:
		ok = !internal_error(line);
		break;
	}
	if (internal_error(line))
		ok = false;
	CHECKF(ok, "unexpected dslab report (expectation %d): %s", (int)g_expect, line);
	g_reports++;
}

ssize_t log_write(void *, const char *buf, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (g_line_len < sizeof(g_line) - 2)
			g_line[g_line_len++] = buf[i];
		if (buf[i] == '\n') {
			g_line[g_line_len] = '\0';
			on_log_line(g_line);
			g_line_len = 0;
		}
	}
	return (ssize_t)size;
}

/* Run f() expecting reports of kind e; at least one if must_report. */
template <class F> void expecting(Expect e, bool must_report, F f)
{
	g_expect = e;
	g_reports = 0;
	f();
	fflush(rte_log_get_stream());
	CHECKF(!must_report || g_reports > 0, "expected a dslab report of kind %d, none came",
	       (int)e);
	g_expect = Expect::None;
}

/* ---- helpers ------------------------------------------------------------ */

/* May @p n more objects of @p bytes in all be allocated? @p touched: the
 * bytes written or checked (the whole of small objects, the edges of large
 * regions; checked builds also poison-check every allocated object). */
bool room(size_t n, size_t bytes, size_t touched)
{
	return M.objs.size() + n <= kMaxObjs && M.work + n <= kWorkBudget &&
	       M.live_bytes + bytes <= g_max_live_bytes &&
	       M.touched_bytes + touched <= kTouchBudget;
}

bool room(size_t n, size_t bytes) { return room(n, bytes, bytes); }

/* An allocation returned NULL: legitimate only under fault injection. */
void alloc_failed(const char *what)
{
	int err = rte_errno;
	CHECKF(M.fault_armed, "%s failed with no fault injected (rte_errno %d)", what, err);
	CHECKF(err == ENOMEM, "%s failed with rte_errno %d, want ENOMEM", what, err);
}

int kclass_of(size_t req)
{
	for (size_t i = 0; i < g_kclass.size(); i++)
		if (req <= g_kclass[i].size)
			return (int)i;
	return -1;
}

void check_zero(const Obj &o)
{
	/* Large regions: the first and last 64 KiB are enough. */
	constexpr size_t kZeroEdge = 64u << 10;
	static const uint8_t zeros[kZeroEdge] = {};
	size_t n = o.owner == kOwnerLarge ? o.req : o.extent;
	const uint8_t *b = static_cast<const uint8_t *>(o.p);
	size_t from[2] = {0, n > kZeroEdge ? std::max(kZeroEdge, n - kZeroEdge) : n};
	for (size_t f : from) {
		size_t len = std::min(kZeroEdge, n - f);
		if (len == 0 || memcmp(b + f, zeros, len) == 0)
			continue;
		size_t i = f;
		while (b[i] == 0)
			i++;
		violation(__FILE__, __LINE__, "zeroed allocation %p (owner %d, size %zu) has byte "
			  "%zu = %#x", o.p, o.owner, o.req, i, b[i]);
	}
}

void write_pattern(const Obj &o)
{
	Span s[2];
	unsigned n = spans(o.span, o.tag, s);
	for (unsigned i = 0; i < n; i++)
		memcpy(static_cast<uint8_t *>(o.p) + s[i].off, s[i].pat, s[i].len);
}

void verify_pattern(const Obj &o, bool light)
{
	Span s[2];
	unsigned n = spans(o.span, o.tag, s);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *b = static_cast<const uint8_t *>(o.p) + s[i].off;
		size_t off = 0, len = s[i].len;
		if (light && len > 16) {
			/* First and last 8 bytes (the first word is where a slab
			 * freelist link would land). */
			if (memcmp(b, s[i].pat, 8) != 0) {
				len = 8;
			} else {
				off = len - 8;
				len = 8;
			}
		}
		if (memcmp(b + off, s[i].pat + off, len) == 0)
			continue;
		size_t j = off;
		while (b[j] == s[i].pat[j])
			j++;
		violation(__FILE__, __LINE__,
			  "live object %p (owner %d, size %zu, usable %zu) corrupted at byte %zu: "
			  "%#x, want %#x", o.p, o.owner, o.req, o.extent, s[i].off + j, b[j],
			  s[i].pat[j]);
	}
}

CacheModel *cache_at(unsigned slot)
{
	for (unsigned k = 0; k < kMaxCaches; k++) {
		CacheModel *cm = &M.caches[(slot + k) % kMaxCaches];
		if (cm->c != nullptr) {
			cm->dirty = true;
			return cm;
		}
	}
	return nullptr;
}

int slot_of(const CacheModel *cm) { return (int)(cm - M.caches); }

/* A new object: check it and add it to the model. */
void adopt(void *p, int owner, size_t req, bool zero)
{
	CHECK(p != nullptr);
	auto it = M.by_addr.find((uintptr_t)p);
	CHECKF(it == M.by_addr.end(), "%p handed out while it is live (owner %d, now %d)", p,
	       it == M.by_addr.end() ? 0 : M.objs[it->second].owner, owner);
	Obj o{};
	o.p = p;
	o.owner = owner;
	o.req = req;
	o.tag = g_tag++;
	o.extent = dslab_ksize(p);
	CHECKF(o.extent >= req, "dslab_ksize(%p) = %zu < %zu asked for (owner %d)", p, o.extent,
	       req, owner);
	CHECK(((uintptr_t)p & 7) == 0);
	if (owner >= 0) {
		CacheModel &cm = M.caches[owner];
		CHECKF(o.extent == cm.usable, "dslab_ksize(%p) = %zu, cache %s usable size %zu", p,
		       o.extent, cm.name, cm.usable);
		CHECKF(((uintptr_t)p & (cm.align - 1)) == 0, "%p of cache %s not aligned to %zu", p,
		       cm.name, cm.align);
		o.span = cm.usable;
		cm.live++;
		cm.dirty = true;
		zero |= cm.zero;
	} else if (owner == kOwnerKmalloc) {
		o.kclass = kclass_of(req);
		CHECK(o.kclass >= 0);
		KClass &k = g_kclass[(size_t)o.kclass];
		CHECKF(o.extent == k.size, "dslab_ksize(%p) = %zu for kmalloc(%zu), class size %zu", p,
		       o.extent, req, k.size);
		o.span = o.extent;
		k.live++;
		k.dirty = k.touched = true;
	} else {
		o.span = req;
		M.nlarge++;
	}
	/* No overlap with the neighbours. */
	auto next = M.by_addr.lower_bound((uintptr_t)p);
	if (next != M.by_addr.end())
		CHECKF((uintptr_t)p + o.extent <= next->first,
		       "%p (+%zu) overlaps live object %p", p, o.extent, (void *)next->first);
	if (next != M.by_addr.begin()) {
		const Obj &prev = M.objs[std::prev(next)->second];
		CHECKF((uintptr_t)prev.p + prev.extent <= (uintptr_t)p,
		       "%p overlaps live object %p (+%zu)", p, prev.p, prev.extent);
	}
	if (zero)
		check_zero(o);
	write_pattern(o);
	M.by_addr.emplace((uintptr_t)p, M.objs.size());
	M.objs.push_back(o);
	M.live_bytes += o.span;
	M.work++;
	M.touched_bytes += o.owner == kOwnerLarge ? 2 * kEdge : o.span;
}

/* Take object i out of the model (after a full pattern check); the caller
 * frees it (or leaks it). */
Obj disown(size_t i)
{
	Obj o = M.objs[i];
	verify_pattern(o, false);
	M.by_addr.erase((uintptr_t)o.p);
	if (i != M.objs.size() - 1) {
		M.objs[i] = M.objs.back();
		M.by_addr[(uintptr_t)M.objs[i].p] = i;
	}
	M.objs.pop_back();
	M.live_bytes -= o.span;
	if (o.owner >= 0) {
		M.caches[o.owner].live--;
		M.caches[o.owner].dirty = true;
	} else if (o.owner == kOwnerKmalloc) {
		g_kclass[(size_t)o.kclass].live--;
		g_kclass[(size_t)o.kclass].dirty = true;
		g_kclass[(size_t)o.kclass].touched = true;
	} else {
		M.nlarge--;
	}
	return o;
}

/* Free object i through the API picked by @p how. */
void free_obj(size_t i, unsigned how)
{
	Obj o = disown(i);
	switch (how % 4) {
	case 3:
		/* Lcore 0 is not inside dslab: the main sheaf, or deferred to
		 * the next safe point (remote, full sheaf, large). */
		dslab_kfree_nolock(o.p);
		break;
	case 0:
		if (o.owner >= 0)
			dslab_free(M.caches[o.owner].c, o.p);
		else
			dslab_kfree(o.p);
		break;
	case 1:
		dslab_kfree(o.p);
		break;
	default:
		dslab_kvfree(o.p);
		break;
	}
}

void check_cache(const CacheModel &cm)
{
	struct dslab_cache_stats s;
	CHECK(dslab_cache_stats(cm.c, &s) == 0);
	/* Frees kfree_nolock deferred are still counted in use until done. */
	CHECKF(s.objects_in_use - s.objects_deferred == cm.live,
	       "cache %s: objects_in_use %" PRIu64 " (%" PRIu64 " deferred), the model holds %" PRIu64,
	       cm.name, s.objects_in_use, s.objects_deferred, cm.live);
	CHECKF(s.object_size == cm.usable, "cache %s: object_size %" PRIu64 " != obj_size %zu",
	       cm.name, s.object_size, cm.usable);
	if (cm.cap != DSLAB_SHEAF_CAPACITY_AUTO)
		CHECKF(s.sheaf_capacity == cm.cap, "cache %s: sheaf_capacity %" PRIu64 ", asked %u",
		       cm.name, s.sheaf_capacity, cm.cap);
	else
		CHECK(s.sheaf_capacity > 0 && s.sheaf_capacity <= DSLAB_SHEAF_CAPACITY_MAX);
}

void check_kclass(KClass &k)
{
	struct dslab_cache_stats s;
	CHECK(dslab_cache_stats(k.c, &s) == 0);
	CHECKF(s.objects_in_use - s.objects_deferred == k.base + k.live,
	       "kmalloc class %zu: objects_in_use %" PRIu64 " (%" PRIu64 " deferred), want %" PRIu64
	       " + %" PRIu64 " (model)", k.size, s.objects_in_use, s.objects_deferred, k.base, k.live);
	k.dirty = false;
}

void check_all_stats(bool all)
{
	for (CacheModel &cm : M.caches) {
		if (cm.c != nullptr && (all || cm.dirty))
			check_cache(cm);
		cm.dirty = false;
	}
	for (KClass &k : g_kclass)
		if (all || k.dirty)
			check_kclass(k);
}

/* A kmalloc of @p req bytes is about to be tried: its class's counters are
 * checked after the step, whether it succeeds or not. */
void touch_kclass(size_t req)
{
	int i = kclass_of(req);
	if (i >= 0)
		g_kclass[(size_t)i].dirty = g_kclass[(size_t)i].touched = true;
}

/* Bad input aimed at object @p o: check its class's counters afterwards. */
void touch_obj(const Obj *o)
{
	if (o != nullptr && o->owner == kOwnerKmalloc)
		g_kclass[(size_t)o->kclass].dirty = g_kclass[(size_t)o->kclass].touched = true;
	if (o != nullptr && o->owner >= 0)
		M.caches[o->owner].dirty = true;
}

/* After every step: stats, and a spot check of live objects. */
void check_step()
{
	check_all_stats(false);
	size_t n = M.objs.size();
	if (n == 0)
		return;
	size_t k = std::min<size_t>(n, kLightWindow);
	for (size_t j = 0; j < k; j++)
		verify_pattern(M.objs[(M.light_next + j) % n], true);
	M.light_next = (unsigned)((M.light_next + k) % n);
}

/* Live objects of a cache slot, up to @p max, starting at a random point. */
std::vector<size_t> objs_of(int owner, size_t max, size_t start)
{
	std::vector<size_t> v;
	size_t n = M.objs.size();
	for (size_t j = 0; j < n && v.size() < max; j++) {
		size_t i = (start + j) % n;
		if (M.objs[i].owner == owner)
			v.push_back(i);
	}
	return v;
}

/* Remove indexes from the model in descending order (swap-remove safe). */
std::vector<Obj> disown_all(std::vector<size_t> idx)
{
	std::sort(idx.begin(), idx.end(), std::greater<size_t>());
	std::vector<Obj> out;
	for (size_t i : idx)
		out.push_back(disown(i));
	return out;
}

size_t kmalloc_size(uint8_t sel, uint32_t v)
{
	switch (sel % 8) {
	case 0:
	case 1:
		return 1 + v % 64;
	case 2:
		return 1 + v % 1024;
	case 3:
		return 1 + v % DSLAB_KMALLOC_MAX_SIZE;
	case 4:
		return DSLAB_KMALLOC_MAX_SIZE + 1 + v % (kMaxKmalloc - DSLAB_KMALLOC_MAX_SIZE);
	case 5: {
		/* Class boundaries: exactly a class size, or one byte more. */
		const KClass &k = g_kclass[(v >> 1) % g_kclass.size()];
		return k.size + (v & 1);
	}
	case 6:
		return 1 + v % kMaxKmalloc;
	default:
		return 1 + v % 4096;
	}
}

/* Sockets: -1 (caller's), 0, 1 (logical), or an invalid one. */
int pick_socket(uint8_t sel, bool *valid)
{
	int s;
	switch (sel % 5) {
	case 0: s = -1; break;
	case 1: s = 0; break;
	case 2:
	case 3: s = 1; break;
	default: s = (sel & 0x80) ? RTE_MAX_NUMA_NODES : 7; break;
	}
	*valid = s == -1 || (unsigned)s < dslab_socket_count();
	return s;
}

/* A kmalloc family allocation of @p req bytes has been attempted. */
void kmalloc_result(void *p, size_t req, bool zero, const char *what)
{
	if (p == nullptr) {
		alloc_failed(what);
		return;
	}
	adopt(p, req > DSLAB_KMALLOC_MAX_SIZE ? kOwnerLarge : kOwnerKmalloc, req, zero);
}

bool kmalloc_room(size_t req)
{
	if (req > DSLAB_KMALLOC_MAX_SIZE && M.nlarge >= g_max_large)
		return false;
	return room(1, req, req > DSLAB_KMALLOC_MAX_SIZE ? 2 * kEdge : req);
}

void return_sheaf(size_t i)
{
	SheafModel sm = M.sheaves[i];
	M.sheaves.erase(M.sheaves.begin() + (long)i);
	M.caches[sm.owner].dirty = true;
	dslab_return_sheaf(M.caches[sm.owner].c, sm.s);
}

void return_sheaves_of(int owner)
{
	for (size_t i = M.sheaves.size(); i-- > 0;)
		if (M.sheaves[i].owner == owner)
			return_sheaf(i);
}

uint64_t prefilled_of(int owner)
{
	uint64_t n = 0;
	for (const SheafModel &sm : M.sheaves)
		if (sm.owner == owner)
			n += dslab_sheaf_size(sm.s);
	return n;
}

/* ---- operations ------------------------------------------------------- */

enum Op : uint8_t {
	OP_CREATE = 0,
	OP_DESTROY,
	OP_DESTROY_LEAK,
	OP_ALLOC,
	OP_FREE,
	OP_ALLOC_BULK,
	OP_FREE_BULK,
	OP_KMALLOC,
	OP_KZALLOC,
	OP_KVMALLOC,
	OP_KFREE,
	OP_KSIZE,
	OP_ALLOC_NODE,
	OP_KMALLOC_NODE,
	OP_SHRINK,
	OP_PREFILL,
	OP_ALLOC_FROM_SHEAF,
	OP_REFILL,
	OP_RETURN_SHEAF,
	OP_STATS,
	OP_FAULT_SET,
	OP_FAULT_CLEAR,
	OP_BAD_INPUT,
	OP_ALLOC_MANY,
	OP_FREE_MANY,
	OP_THREAD,
	OP_RCU,
	OP_NOLOCK,
	OP_NR
};

void op_create(Reader &r)
{
	unsigned slot = r.u8() % kMaxCaches;
	uint8_t size_sel = r.u8();
	uint32_t size_v = r.u32();
	uint8_t align_sel = r.u8();
	uint8_t cap_sel = r.u8();
	uint8_t cap_v = r.u8();
	uint8_t barn = r.u8();
	uint8_t flags = r.u8();
	CacheModel &cm = M.caches[slot];

	if (cm.c != nullptr) {
		/* The slot is taken: a second cache of the same name. */
		rte_errno = 0;
		dslab_cache *dup = nullptr;
		expecting(Expect::Any, false, [&] { dup = dslab_cache_create(cm.name, 64, nullptr); });
		CHECKF(dup == nullptr, "second cache named %s created", cm.name);
		CHECK(rte_errno == EEXIST || (M.fault_armed && rte_errno == ENOMEM));
		CHECK(dslab_cache_lookup(cm.name) == cm.c);
		return;
	}

	size_t size;
	switch (size_sel % 8) {
	case 0:
	case 1:
	case 2: size = 1 + size_v % 64; break;
	case 3:
	case 4: size = 1 + size_v % 512; break;
	case 5: size = 1 + size_v % 4096; break;
	case 6: size = 1 + size_v % kMaxCacheObj; break;
	default:
		if (size_sel & 0x80) {
			/* Big: one or two objects per slab, up to the limit. */
			size = DSLAB_CACHE_MAX_OBJ_SIZE - size_v % (768u << 10);
		} else {
			static const size_t kSizes[] = {8,   16,   24,   32,   48,   64,    100,
							128, 192,  256,  1000, 1024, 4096, 65536};
			size = kSizes[size_v % (sizeof(kSizes) / sizeof(kSizes[0]))];
		}
		break;
	}
	dslab_cache_args a{};
	a.align = align_sel % 8 < 4 ? 0 : (size_t)1 << (align_sel % 13);
	switch (cap_sel % 8) {
	case 0: a.sheaf_capacity = 0; break;
	case 1: a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_AUTO; break;
	case 2:
	case 3:
	case 4:
	case 5: a.sheaf_capacity = 1 + cap_v % 8; break;
	case 6: a.sheaf_capacity = 1 + cap_v % 64; break;
	default: a.sheaf_capacity = std::min(DSLAB_SHEAF_CAPACITY_MAX, 1u + cap_v * 4u); break;
	}
	a.barn_max_full = barn & 3;
	a.barn_max_empty = (barn >> 2) & 3;
	/* Bound what one refill (and a barn of full sheaves) holds: sheaves of
	 * at most 8 MiB of objects; big objects get small barns too. */
	if (a.sheaf_capacity == DSLAB_SHEAF_CAPACITY_AUTO && size > (256u << 10))
		a.sheaf_capacity = 2;
	else if (a.sheaf_capacity != DSLAB_SHEAF_CAPACITY_AUTO)
		a.sheaf_capacity = (uint32_t)std::min<size_t>(
			a.sheaf_capacity, std::max<size_t>(1, kMaxSheafBytes / size));
	if (size > (256u << 10)) {
		a.barn_max_full = 1 + (barn & 1);
		a.barn_max_empty = 1 + ((barn >> 2) & 1);
	}
	a.flags = (flags & 1 ? DSLAB_CACHE_ZERO : 0) | (flags & 2 ? DSLAB_CACHE_HWCACHE_ALIGN : 0);
	bool defaults = (flags & 0x80) && size <= (256u << 10);
	if (defaults) { /* args NULL: what the model expects of the defaults */
		a = dslab_cache_args{};
		a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_AUTO;
	}

	snprintf(cm.name, sizeof(cm.name), "fz%u", g_name_seq++);
	rte_errno = 0;
	dslab_cache *c = dslab_cache_create(cm.name, size, defaults ? nullptr : &a);
	if (c == nullptr) {
		alloc_failed("dslab_cache_create");
		rte_errno = 0;
		CHECKF(dslab_cache_lookup(cm.name) == nullptr && rte_errno == ENOENT,
		       "failed create left %s registered", cm.name);
		return;
	}
	CHECK(dslab_cache_lookup(cm.name) == c);
	CHECK(strcmp(dslab_cache_name(c), cm.name) == 0);
	cm.c = c;
	cm.size = size;
	cm.align = a.align != 0 ? a.align : 8;
	if (a.flags & DSLAB_CACHE_HWCACHE_ALIGN)
		cm.align = std::max<size_t>(cm.align, RTE_CACHE_LINE_SIZE);
	cm.cap = a.sheaf_capacity;
	cm.usable = dslab_cache_obj_size(c);
	cm.zero = a.flags & DSLAB_CACHE_ZERO;
	cm.live = 0;
	CHECKF(cm.usable >= size, "cache %s: obj_size %zu < size %zu", cm.name, cm.usable, size);
	check_cache(cm);
}

/* Destroy a cache; leak: keep (at most 8 of) its objects and expect them
 * reported. */
void destroy_cache(CacheModel &cm, bool leak, uint8_t how)
{
	int slot = slot_of(&cm);
	return_sheaves_of(slot);
	std::vector<size_t> mine = objs_of(slot, SIZE_MAX, 0);
	size_t keep = leak ? std::min<size_t>(mine.size(), 1 + how % 8) : 0;
	keep = std::min(keep, std::max<size_t>(1, kMaxLeakBytes / cm.usable)); /* memory kept */
	/* Free all but the first @keep (indexes move as objects leave the
	 * model: disown_all() goes from the highest down). */
	for (const Obj &o : disown_all(std::vector<size_t>(mine.begin() + (long)keep, mine.end()))) {
		if (how & 0x80)
			dslab_kfree(o.p);
		else
			dslab_free(cm.c, o.p);
	}
	/* The kept ones leave the model for good, still allocated. */
	std::vector<size_t> left = objs_of(slot, SIZE_MAX, 0);
	CHECK(left.size() == keep);
	check_cache(cm);
	disown_all(left);

	g_leak_sum = 0;
	dslab_cache *c = cm.c;
	if (keep == 0) {
		expecting(Expect::None, false, [&] { dslab_cache_destroy(c); });
	} else {
		expecting(Expect::Leak, true, [&] { dslab_cache_destroy(c); });
		CHECKF(g_leak_sum == keep, "destroy of %s reported %" PRIu64 " leaked objects, %zu "
		       "were", cm.name, g_leak_sum, keep);
		g_leaked[g_leaks++] = c; /* never touched again */
	}
	rte_errno = 0;
	CHECKF(dslab_cache_lookup(cm.name) == nullptr && rte_errno == ENOENT,
	       "destroyed cache %s still found", cm.name);
	cm = CacheModel{};
}

void op_destroy(Reader &r, bool leak)
{
	unsigned slot = r.u8();
	uint8_t how = r.u8();
	CacheModel *cm = cache_at(slot);
	if (cm == nullptr) {
		dslab_cache_destroy(nullptr);
		return;
	}
	destroy_cache(*cm, leak && g_leaks < g_max_leaks, how);
}

void op_alloc(Reader &r)
{
	CacheModel *cm = cache_at(r.u8());
	unsigned flags = r.u8() & 1 ? DSLAB_F_ZERO : 0;
	if (cm == nullptr || !room(1, cm->usable))
		return;
	rte_errno = 0;
	void *p = dslab_alloc(cm->c, flags);
	if (p == nullptr)
		alloc_failed("dslab_alloc");
	else
		adopt(p, slot_of(cm), cm->size, flags & DSLAB_F_ZERO);
}

void op_alloc_many(Reader &r)
{
	CacheModel *cm = cache_at(r.u8());
	unsigned n = 1 + r.u8();
	unsigned flags = r.u8() & 1 ? DSLAB_F_ZERO : 0;
	if (cm == nullptr)
		return;
	for (unsigned i = 0; i < n && room(1, cm->usable); i++) {
		rte_errno = 0;
		void *p = dslab_alloc(cm->c, flags);
		if (p == nullptr) {
			alloc_failed("dslab_alloc");
			continue;
		}
		adopt(p, slot_of(cm), cm->size, flags & DSLAB_F_ZERO);
	}
}

void op_free(Reader &r)
{
	uint16_t idx = r.u16();
	uint8_t how = r.u8();
	if (M.objs.empty())
		return;
	free_obj(idx % M.objs.size(), how);
}

/* kfree_rcu: the object leaves the model at once (objects_in_use counts it
 * as freed when it is handed over); a barrier must leave nothing pending.
 * The fuzzing lcore is never an online reader, so nothing here may wait on
 * itself; with no memory for a pointer array (fault injection) the headless
 * form waits for a grace period, which no online reader holds up. */
struct RcuHeaded {
	struct dslab_rcu_head rh;
};

void check_no_rcu_pending()
{
	for (CacheModel &cm : M.caches) {
		if (cm.c == nullptr)
			continue;
		struct dslab_cache_stats s;
		CHECK(dslab_cache_stats(cm.c, &s) == 0);
		CHECKF(s.objects_pending_rcu == 0, "cache %s: %" PRIu64 " objects pending after a barrier",
		       cm.name, s.objects_pending_rcu);
	}
}

void op_rcu(Reader &r)
{
	uint8_t what = r.u8();
	uint16_t idx = r.u16();
	switch (what % 6) {
	case 0: /* headless, any object */
	case 1: {
		if (M.objs.empty())
			return;
		Obj o = disown(idx % M.objs.size());
		dslab_kvfree_rcu(o.p);
		break;
	}
	case 2: { /* with a head at the start of a cache or kmalloc object */
		if (M.objs.empty())
			return;
		const Obj &c = M.objs[idx % M.objs.size()];
		if (c.owner == kOwnerLarge || c.span < sizeof(RcuHeaded))
			return;
		Obj o = disown(idx % M.objs.size());
		dslab_kfree_rcu(static_cast<RcuHeaded *>(o.p), rh);
		break;
	}
	case 3:
		dslab_quiescent();
		break;
	case 4: {
		CacheModel *cm = cache_at((uint8_t)idx);
		if (cm == nullptr)
			return;
		dslab_rcu_barrier_on_cache(cm->c);
		struct dslab_cache_stats s;
		CHECK(dslab_cache_stats(cm->c, &s) == 0);
		CHECKF(s.objects_pending_rcu == 0, "cache %s: %" PRIu64 " pending after its barrier",
		       cm->name, s.objects_pending_rcu);
		break;
	}
	default:
		dslab_rcu_barrier();
		check_no_rcu_pending();
		break;
	}
}

void op_free_many(Reader &r)
{
	uint8_t who = r.u8();
	unsigned n = 1 + r.u8();
	uint8_t order = r.u8();
	if (M.objs.empty())
		return;
	/* who: a cache slot, or (4..7) every owner. */
	std::vector<size_t> idx;
	if ((who & 4) == 0) {
		CacheModel *cm = cache_at(who);
		if (cm == nullptr)
			return;
		idx = objs_of(slot_of(cm), SIZE_MAX, 0);
	} else {
		for (size_t i = 0; i < M.objs.size(); i++)
			idx.push_back(i);
	}
	/* Allocation order is (roughly) the order in objs. */
	switch (order % 3) {
	case 0: std::reverse(idx.begin(), idx.end()); break; /* newest first */
	case 1: break;                                        /* oldest first */
	default: {                                            /* every other */
		std::vector<size_t> odd;
		for (size_t j = 0; j < idx.size(); j += 2)
			odd.push_back(idx[j]);
		idx.swap(odd);
		break;
	}
	}
	if (idx.size() > n)
		idx.resize(n);
	/* Free in the chosen order: disown one at a time, tracking by address
	 * because indexes move. */
	std::vector<void *> addrs;
	for (size_t i : idx)
		addrs.push_back(M.objs[i].p);
	for (void *p : addrs)
		free_obj(M.by_addr.at((uintptr_t)p), order >> 2);
}

void op_alloc_bulk(Reader &r)
{
	CacheModel *cm = cache_at(r.u8());
	unsigned n = 1 + r.u8() % 64;
	unsigned flags = r.u8() & 1 ? DSLAB_F_ZERO : 0;
	if (cm == nullptr || !room(n, n * cm->usable))
		return;
	void *objs[64];
	rte_errno = 0;
	unsigned got = dslab_alloc_bulk(cm->c, flags, n, objs);
	if (got == 0) {
		alloc_failed("dslab_alloc_bulk");
		return;
	}
	CHECKF(got == n, "dslab_alloc_bulk returned %u of %u", got, n);
	for (unsigned i = 0; i < n; i++)
		adopt(objs[i], slot_of(cm), cm->size, flags & DSLAB_F_ZERO);
}

void op_free_bulk(Reader &r)
{
	CacheModel *cm = cache_at(r.u8());
	unsigned n = 1 + r.u8() % 64;
	uint8_t mix = r.u8();
	uint16_t start = r.u16();
	if (cm == nullptr || M.objs.empty())
		return;
	std::vector<Obj> gone = disown_all(objs_of(slot_of(cm), n, start % M.objs.size()));
	std::vector<void *> v;
	for (const Obj &o : gone) {
		v.push_back(o.p);
		if (mix & 1)
			v.push_back(nullptr); /* NULL entries are skipped */
	}
	int on_stack = 0;
	bool foreign = mix & 2;
	if (foreign)
		v.insert(v.begin() + (long)(mix >> 4) % (long)(v.size() + 1), &on_stack);
	if (v.empty())
		return;
	expecting(foreign ? Expect::Foreign : Expect::None, foreign,
		  [&] { dslab_free_bulk(cm->c, (unsigned)v.size(), v.data()); });
}

/* The nolock calls, on lcore 0 (not inside dslab). */
void op_nolock(Reader &r)
{
	uint8_t what = r.u8();
	uint8_t sel = r.u8();
	uint32_t v = r.u32();
	switch (what % 4) {
	case 0: { /* kmalloc_nolock: NULL with EAGAIN is a legal answer */
		size_t req = kmalloc_size(sel, v);
		bool valid;
		int socket = (what & 0x80) ? -1 : pick_socket((uint8_t)(v >> 24), &valid);
		if (socket == -1)
			valid = true;
		if (req > DSLAB_KMALLOC_MAX_SIZE || !kmalloc_room(req))
			return;
		touch_kclass(req);
		bool zero = what & 0x40;
		rte_errno = 0;
		void *p = dslab_kmalloc_nolock(req, zero ? DSLAB_F_ZERO : 0, socket);
		if (p == nullptr) {
			CHECKF(rte_errno == (valid ? EAGAIN : EINVAL),
			       "dslab_kmalloc_nolock(%zu, socket %d): NULL with rte_errno %d", req,
			       socket, rte_errno);
			return;
		}
		CHECKF(valid, "dslab_kmalloc_nolock(socket %d) accepted a bad socket", socket);
		adopt(p, kOwnerKmalloc, req, zero);
		break;
	}
	case 1: { /* kfree_rcu_nolock of a headed object */
		if (M.objs.empty())
			return;
		size_t i = v % M.objs.size();
		const Obj &c = M.objs[i];
		if (c.owner == kOwnerLarge || c.span < sizeof(RcuHeaded))
			return;
		Obj o = disown(i);
		dslab_kfree_rcu_nolock(static_cast<RcuHeaded *>(o.p), rh);
		break;
	}
	case 2: /* the deferred-work barrier: nothing stays deferred */
		dslab_deferred_barrier();
		for (KClass &k : g_kclass) {
			struct dslab_cache_stats s;
			CHECK(dslab_cache_stats(k.c, &s) == 0);
			CHECKF(s.objects_deferred == 0 && s.objects_in_transit == 0,
			       "kmalloc class %zu: %" PRIu64 " deferred, %" PRIu64
			       " in transit after dslab_deferred_barrier()",
			       k.size, s.objects_deferred, s.objects_in_transit);
		}
		break;
	default:
		if (M.objs.empty())
			return;
		free_obj(v % M.objs.size(), 3);
		break;
	}
}

void op_kmalloc(Reader &r, bool zero)
{
	uint8_t sel = r.u8();
	uint32_t v = r.u32();
	size_t req = kmalloc_size(sel, v);
	if (!kmalloc_room(req))
		return;
	touch_kclass(req);
	rte_errno = 0;
	void *p = zero ? dslab_kzalloc(req, 0) : dslab_kmalloc(req, 0);
	kmalloc_result(p, req, zero, zero ? "dslab_kzalloc" : "dslab_kmalloc");
}

void op_kvmalloc(Reader &r)
{
	uint8_t sel = r.u8();
	uint32_t v = r.u32();
	bool zero = r.u8() & 1;
	size_t req;
	switch (sel % 4) {
	case 0: req = kmalloc_size(sel >> 2, v); break;
	case 1:
	case 2: req = 1 + v % kMaxKvmalloc; break;
	default: /* around 2 or 4 MiB, the chunk size */
		req = ((size_t)1 + (v & 1)) << 21;
		req = req - 1 + (v >> 1) % 3;
		break;
	}
	if (!kmalloc_room(req))
		return;
	touch_kclass(req);
	rte_errno = 0;
	void *p = dslab_kvmalloc(req, zero ? DSLAB_F_ZERO : 0);
	kmalloc_result(p, req, zero, "dslab_kvmalloc");
}

void op_kmalloc_node(Reader &r)
{
	uint8_t sel = r.u8();
	uint32_t v = r.u32();
	uint8_t ssel = r.u8();
	bool zero = r.u8() & 1;
	size_t req = kmalloc_size(sel, v);
	bool valid;
	int socket = pick_socket(ssel, &valid);
	if (!kmalloc_room(req))
		return;
	touch_kclass(req);
	rte_errno = 0;
	void *p = dslab_kmalloc_node(req, zero ? DSLAB_F_ZERO : 0, socket);
	if (!valid) {
		CHECKF(p == nullptr && rte_errno == EINVAL,
		       "dslab_kmalloc_node(%zu, socket %d): %p, rte_errno %d", req, socket, p,
		       rte_errno);
		return;
	}
	kmalloc_result(p, req, zero, "dslab_kmalloc_node");
}

void op_alloc_node(Reader &r)
{
	CacheModel *cm = cache_at(r.u8());
	uint8_t ssel = r.u8();
	unsigned flags = r.u8() & 1 ? DSLAB_F_ZERO : 0;
	bool valid;
	int socket = pick_socket(ssel, &valid);
	if (cm == nullptr || !room(1, cm->usable))
		return;
	rte_errno = 0;
	void *p = dslab_alloc_node(cm->c, flags, socket);
	if (!valid) {
		CHECKF(p == nullptr && rte_errno == EINVAL,
		       "dslab_alloc_node(socket %d): %p, rte_errno %d", socket, p, rte_errno);
		return;
	}
	if (p == nullptr)
		alloc_failed("dslab_alloc_node");
	else
		adopt(p, slot_of(cm), cm->size, flags & DSLAB_F_ZERO);
}

void op_kfree(Reader &r)
{
	uint16_t idx = r.u16();
	if (M.objs.empty())
		return;
	free_obj(idx % M.objs.size(), 1);
}

void op_ksize(Reader &r)
{
	uint16_t idx = r.u16();
	if (M.objs.empty())
		return;
	const Obj &o = M.objs[idx % M.objs.size()];
	size_t k = dslab_ksize(o.p);
	CHECKF(k == o.extent && k >= o.req, "dslab_ksize(%p) = %zu, was %zu, asked %zu", o.p, k,
	       o.extent, o.req);
	/* Not the start of an object: 0, and no report. */
	size_t in = dslab_ksize(static_cast<char *>(o.p) + 1);
	CHECKF(in == 0, "dslab_ksize(%p + 1) = %zu", o.p, in);
}

void op_shrink(Reader &r)
{
	uint8_t who = r.u8();
	if (who & 0x80) {
		KClass &k = g_kclass[who % g_kclass.size()];
		dslab_cache_shrink(k.c);
		k.dirty = k.touched = true;
		return;
	}
	CacheModel *cm = cache_at(who);
	if (cm == nullptr)
		return;
	dslab_cache_shrink(cm->c);
	if (M.off_lcore)
		return; /* lcore 0's sheaves were left alone */
	/* Only lcore 0 ever has sheaves, and they and the barns were flushed:
	 * what is out of the slabs is the live objects and the prefilled
	 * sheaves, and with neither no memory is held. */
	struct dslab_cache_stats s;
	CHECK(dslab_cache_stats(cm->c, &s) == 0);
	uint64_t pre = prefilled_of(slot_of(cm));
	CHECKF(s.objects_in_sheaves == pre,
	       "cache %s after shrink: objects_in_sheaves %" PRIu64 ", prefilled sheaves hold %"
	       PRIu64, cm->name, s.objects_in_sheaves, pre);
	/* Objects waiting for a grace period (kfree_rcu) still hold slabs. */
	if (cm->live == 0 && pre == 0 && s.objects_pending_rcu == 0)
		CHECKF(s.bytes_held == 0 && s.slabs == 0,
		       "cache %s after shrink with no object out: %" PRIu64 " bytes, %" PRIu64
		       " slabs held", cm->name, s.bytes_held, s.slabs);
}

void op_prefill(Reader &r)
{
	CacheModel *cm = cache_at(r.u8());
	uint8_t sel = r.u8();
	uint16_t v = r.u16();
	if (cm == nullptr || M.sheaves.size() >= kMaxSheaves)
		return;
	struct dslab_cache_stats s;
	CHECK(dslab_cache_stats(cm->c, &s) == 0);
	unsigned cap = (unsigned)s.sheaf_capacity;
	unsigned n;
	switch (sel % 4) {
	case 0: n = v % 4; break;
	case 1: n = v % (cap + 1); break;
	case 2: n = cap + 1 + v % 8; break; /* oversize */
	default: n = v % 512; break;
	}
	n = std::min<unsigned>(n, (unsigned)(kMaxSheafBytes / cm->usable) + 1);
	rte_errno = 0;
	dslab_sheaf *sh = dslab_prefill_sheaf(cm->c, 0, n);
	if (sh == nullptr) {
		alloc_failed("dslab_prefill_sheaf");
		return;
	}
	CHECKF(dslab_sheaf_size(sh) >= n, "prefilled sheaf holds %u < %u", dslab_sheaf_size(sh),
	       n);
	M.sheaves.push_back(SheafModel{sh, slot_of(cm)});
}

void op_alloc_from_sheaf(Reader &r)
{
	uint8_t which = r.u8();
	unsigned flags = r.u8() & 1 ? DSLAB_F_ZERO : 0;
	if (M.sheaves.empty())
		return;
	SheafModel &sm = M.sheaves[which % M.sheaves.size()];
	CacheModel &cm = M.caches[sm.owner];
	cm.dirty = true;
	unsigned before = dslab_sheaf_size(sm.s);
	if (!room(1, cm.usable))
		return;
	rte_errno = 0;
	void *p = dslab_alloc_from_sheaf(cm.c, flags, sm.s);
	if (before == 0) {
		CHECKF(p == nullptr && rte_errno == ENOENT,
		       "dslab_alloc_from_sheaf on an empty sheaf: %p, rte_errno %d", p, rte_errno);
		return;
	}
	CHECKF(p != nullptr, "dslab_alloc_from_sheaf failed with %u objects in the sheaf (rte_errno "
	       "%d)", before, rte_errno);
	CHECK(dslab_sheaf_size(sm.s) == before - 1);
	adopt(p, sm.owner, cm.size, flags & DSLAB_F_ZERO);
}

void op_refill(Reader &r)
{
	uint8_t which = r.u8();
	uint8_t sel = r.u8();
	uint16_t v = r.u16();
	if (M.sheaves.empty())
		return;
	SheafModel &sm = M.sheaves[which % M.sheaves.size()];
	CacheModel &cm = M.caches[sm.owner];
	cm.dirty = true;
	unsigned before = dslab_sheaf_size(sm.s);
	unsigned n = sel % 2 ? v % 16 : v % 512;
	n = std::min<unsigned>(n, (unsigned)(kMaxSheafBytes / cm.usable) + 1);
	dslab_sheaf *old = sm.s;
	rte_errno = 0;
	int rc = dslab_refill_sheaf(cm.c, 0, &sm.s, n);
	if (rc != 0) {
		CHECK(rc == -ENOMEM);
		alloc_failed("dslab_refill_sheaf");
		/* "the sheaf is unchanged" (the model follows *sheaf either way) */
		CONTRACT(sm.s == old, "dslab_refill_sheaf failed (-ENOMEM) but replaced the "
			 "sheaf %p by %p (documented: unchanged)", (void *)old, (void *)sm.s);
		CHECK(dslab_sheaf_size(sm.s) >= before);
		return;
	}
	CHECKF(dslab_sheaf_size(sm.s) >= n && dslab_sheaf_size(sm.s) >= before,
	       "refilled sheaf holds %u, want %u (had %u)", dslab_sheaf_size(sm.s), n, before);
}

void op_return_sheaf(Reader &r)
{
	uint8_t which = r.u8();
	if (M.sheaves.empty())
		return;
	return_sheaf(which % M.sheaves.size());
}

int walk_count(dslab_cache *c, void *arg)
{
	auto *v = static_cast<std::vector<dslab_cache *> *>(arg);
	v->push_back(c);
	return 0;
}

void op_stats()
{
	/* Our caches; the kmalloc classes used so far in this input. */
	for (CacheModel &cm : M.caches)
		cm.dirty = cm.c != nullptr;
	for (KClass &k : g_kclass)
		k.dirty |= k.touched;
	check_all_stats(false);
	std::vector<dslab_cache *> all;
	CHECK(dslab_cache_walk(walk_count, &all) == 0);
	for (const CacheModel &cm : M.caches) {
		if (cm.c == nullptr)
			continue;
		CHECKF(std::count(all.begin(), all.end(), cm.c) == 1, "cache %s walked %d times",
		       cm.name, (int)std::count(all.begin(), all.end(), cm.c));
		CHECK(dslab_cache_lookup(cm.name) == cm.c);
	}
	for (const SheafModel &sm : M.sheaves)
		CHECK(dslab_sheaf_size(sm.s) <= 1u << 20);
}

void op_fault_set(Reader &r)
{
	unsigned site = r.u8() % DSLAB_FAULT_NR_SITES;
	uint64_t after = r.u8() % 32;
	uint8_t cv = r.u8();
	uint64_t count = cv % 8 == 7 ? UINT64_MAX : 1 + cv % 4;
	CHECK(dslab_fault_set((dslab_fault_site)site, after, count) == 0);
	M.fault_armed = true;
}

void fault_clear()
{
	for (unsigned s = 0; s < DSLAB_FAULT_NR_SITES; s++)
		CHECK(dslab_fault_set((dslab_fault_site)s, 0, 0) == 0);
	M.fault_armed = false;
}

/* A live object of a cache (owner >= 0), or of any owner, or none. */
Obj *pick_obj(uint16_t idx, bool cache_only, bool large_only = false)
{
	size_t n = M.objs.size();
	for (size_t j = 0; j < n; j++) {
		Obj &o = M.objs[(idx + j) % n];
		if ((!cache_only || o.owner >= 0) && (!large_only || o.owner == kOwnerLarge))
			return &o;
	}
	return nullptr;
}

void op_bad_input(Reader &r)
{
	uint8_t sub = r.u8();
	uint16_t idx = r.u16();
	int on_stack = 7;
	CacheModel *cm = cache_at(idx);

	switch (sub % 12) {
	case 0: /* foreign pointers: stack and static */
		expecting(Expect::Foreign, true, [&] { dslab_kfree(&on_stack); });
		expecting(Expect::Foreign, true, [&] { dslab_kvfree(&g_static_var); });
		expecting(Expect::Foreign, true, [&] { CHECK(dslab_ksize(&on_stack) == 0); });
		if (cm != nullptr)
			expecting(Expect::Foreign, true, [&] { dslab_free(cm->c, &g_static_var); });
		break;
	case 1: { /* NULL everywhere it is a no-op */
		void *nulls[3] = {nullptr, nullptr, nullptr};
		expecting(Expect::None, false, [&] {
			dslab_kfree(nullptr);
			dslab_kvfree(nullptr);
			CHECK(dslab_ksize(nullptr) == 0);
			dslab_cache_destroy(nullptr);
			if (cm != nullptr) {
				dslab_free(cm->c, nullptr);
				dslab_free_bulk(cm->c, 3, nulls);
				dslab_return_sheaf(cm->c, nullptr);
			}
		});
		break;
	}
	case 2: { /* double free of a large region: its mapping is gone */
		Obj *o = pick_obj(idx, false, true);
		if (o == nullptr)
			break;
		Obj g = disown((size_t)(o - M.objs.data()));
		dslab_kfree(g.p);
		expecting(Expect::Foreign, true, [&] { dslab_kfree(g.p); });
		break;
	}
	case 3: { /* interior pointer of a large region: reported, not freed */
		Obj *o = pick_obj(idx, false, true);
		if (o == nullptr)
			break;
		expecting(Expect::Interior, true,
			  [&] { dslab_kfree(static_cast<char *>(o->p) + 64); });
		break;
	}
	case 4: { /* a large region freed to a cache */
		Obj *o = pick_obj(idx, false, true);
		if (o == nullptr || cm == nullptr)
			break;
		expecting(Expect::WrongOwner, true, [&] { dslab_free(cm->c, o->p); });
		break;
	}
#if DSLAB_CHECKED
	/* Checked builds verify every free: user errors that are undefined
	 * behaviour otherwise. */
	case 5: { /* double free of a cache or kmalloc object */
		Obj *o = pick_obj(idx, false);
		if (o == nullptr || o->owner == kOwnerLarge)
			break;
		touch_obj(o);
		Obj g = disown((size_t)(o - M.objs.data()));
		dslab_kfree(g.p);
		expecting(Expect::DoubleFree, true, [&] {
			if (g.owner >= 0 && (sub & 0x80))
				dslab_free(M.caches[g.owner].c, g.p);
			else
				dslab_kfree(g.p);
		});
		break;
	}
	case 6: { /* interior pointer of a cache object */
		Obj *o = pick_obj(idx, false);
		if (o == nullptr || o->owner == kOwnerLarge || o->extent < 16)
			break;
		touch_obj(o);
		expecting(Expect::Interior, true,
			  [&] { dslab_kfree(static_cast<char *>(o->p) + 8); });
		break;
	}
	case 7: { /* an object freed to the wrong cache */
		Obj *o = pick_obj(idx, false);
		if (o == nullptr || o->owner == kOwnerLarge || cm == nullptr ||
		    slot_of(cm) == o->owner)
			break;
		touch_obj(o);
		expecting(Expect::WrongOwner, true, [&] { dslab_free(cm->c, o->p); });
		break;
	}
#endif
	case 8: { /* invalid arguments: documented errors */
		dslab_cache_args a{};
		dslab_cache *c;
		expecting(Expect::Any, false, [&] {
			rte_errno = 0;
			CHECK(dslab_cache_create("fz_bad", 0, nullptr) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_cache_create("fz_bad", DSLAB_CACHE_MAX_OBJ_SIZE + 1, nullptr) ==
				      nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_cache_create("", 8, nullptr) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_cache_create(nullptr, 8, nullptr) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_cache_create("fz_name_that_is_far_too_long_for_dslab", 8,
						 nullptr) == nullptr && rte_errno == EINVAL);
			a.align = (sub & 0x40) ? 3 : 8192;
			rte_errno = 0;
			CHECK(dslab_cache_create("fz_bad", 8, &a) == nullptr && rte_errno == EINVAL);
			a = dslab_cache_args{};
			a.sheaf_capacity = DSLAB_SHEAF_CAPACITY_MAX + 1;
			rte_errno = 0;
			CHECK(dslab_cache_create("fz_bad", 8, &a) == nullptr && rte_errno == EINVAL);
			a = dslab_cache_args{};
			a.flags = 0x80;
			rte_errno = 0;
			CHECK(dslab_cache_create("fz_bad", 8, &a) == nullptr && rte_errno == EINVAL);
			a = dslab_cache_args{};
			a.reserved[idx % 4] = 1;
			rte_errno = 0;
			CHECK(dslab_cache_create("fz_bad", 8, &a) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_cache_lookup("fz_bad") == nullptr && rte_errno == ENOENT);
			rte_errno = 0;
			CHECK(dslab_cache_lookup(nullptr) == nullptr && rte_errno == EINVAL);
			KClass &k = g_kclass[idx % g_kclass.size()];
			k.dirty = k.touched = true;
			c = dslab_cache_lookup(dslab_cache_name(k.c));
			CHECK(c == k.c);
			rte_errno = 0;
			dslab_cache_destroy(c); /* kmalloc classes cannot be destroyed */
			CHECK(rte_errno == EINVAL);
			CHECK(dslab_cache_lookup(dslab_cache_name(c)) == c);
		});
		break;
	}
	case 9: /* invalid arguments of allocations */
		expecting(Expect::Any, false, [&] {
			rte_errno = 0;
			CHECK(dslab_kmalloc(0, 0) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_kvmalloc(0, 0) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_kmalloc(SIZE_MAX - (idx & 0xfff), 0) == nullptr &&
			      rte_errno == ENOMEM);
			rte_errno = 0;
			CHECK(dslab_kvmalloc(SIZE_MAX, 0) == nullptr && rte_errno == ENOMEM);
			rte_errno = 0;
			CHECK(dslab_alloc(nullptr, 0) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_alloc_node(nullptr, 0, -1) == nullptr && rte_errno == EINVAL);
			struct dslab_cache_stats s;
			CHECK(dslab_cache_stats(nullptr, &s) == -EINVAL && rte_errno == EINVAL);
			CHECK(dslab_fault_set(DSLAB_FAULT_NR_SITES, 0, 1) == -EINVAL);
			rte_errno = 0;
			int ls = dslab_lcore_socket(RTE_MAX_LCORE);
			CHECK(ls < 0 && rte_errno == EINVAL);
			CONTRACT(ls == -1, "dslab_lcore_socket(RTE_MAX_LCORE) returned %d, "
				 "documented: -1", ls);
			if (cm == nullptr)
				return;
			CHECK(dslab_cache_stats(cm->c, nullptr) == -EINVAL && rte_errno == EINVAL);
			void *objs[1] = {nullptr};
			CHECK(dslab_alloc_bulk(cm->c, 0, 0, objs) == 0);
			rte_errno = 0;
			CHECK(dslab_prefill_sheaf(cm->c, 0, (1u << 20) + 1 + idx) == nullptr &&
			      rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_alloc_from_sheaf(cm->c, 0, nullptr) == nullptr &&
			      rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_refill_sheaf(cm->c, 0, nullptr, 1) == -EINVAL &&
			      rte_errno == EINVAL);
			dslab_sheaf *none = nullptr;
			CHECK(dslab_refill_sheaf(cm->c, 0, &none, 1) == -EINVAL);
		});
		break;
	case 10: { /* heap memory of the C library */
		void *m = malloc(64 + idx % 256);
		CHECK(m != nullptr);
		expecting(Expect::Foreign, true, [&] { dslab_kfree(m); });
		expecting(Expect::Foreign, true, [&] { CHECK(dslab_ksize(m) == 0); });
		if (cm != nullptr)
			expecting(Expect::Foreign, true, [&] { dslab_free(cm->c, m); });
		free(m);
		/* A cache pointer that is no cache (zeroed memory of the right
		 * size): reported, nothing freed, documented errors. */
		static dslab_cache fake;
		Obj *o = pick_obj(idx, false);
		touch_obj(o);
		expecting(Expect::Any, o != nullptr, [&] {
			if (o != nullptr)
				dslab_free(&fake, o->p);
		});
		expecting(Expect::Any, false, [&] {
			rte_errno = 0;
			CHECK(dslab_alloc(&fake, 0) == nullptr && rte_errno == EINVAL);
			void *objs[2];
			rte_errno = 0;
			CHECK(dslab_alloc_bulk(&fake, 0, 2, objs) == 0 && rte_errno == EINVAL);
			struct dslab_cache_stats st;
			CHECK(dslab_cache_stats(&fake, &st) == -EINVAL);
			rte_errno = 0;
			CHECK(dslab_prefill_sheaf(&fake, 0, 1) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			CHECK(dslab_alloc_node(&fake, 0, 0) == nullptr && rte_errno == EINVAL);
			rte_errno = 0;
			dslab_cache_destroy(&fake);
			CHECK(rte_errno == EINVAL);
			CHECK(dslab_cache_shrink(&fake) == 0);
		});
		break;
	}
	default: /* an object freed and allocated back at once */
		if (cm != nullptr && room(1, cm->usable)) {
			rte_errno = 0;
			void *p = dslab_alloc(cm->c, 0);
			if (p == nullptr) {
				alloc_failed("dslab_alloc");
				break;
			}
			dslab_free(cm->c, p);
		}
		break;
	}
}

void step(Reader &r);

void op_thread(Reader &r)
{
	unsigned k = 1 + r.u8() % 16;
	if (M.off_lcore) /* already on one */
		return;
	std::thread t([&] {
		CHECK(rte_lcore_id() == LCORE_ID_ANY);
		M.off_lcore = true;
		for (unsigned i = 0; i < k && !r.done(); i++)
			step(r);
		M.off_lcore = false;
	});
	t.join();
}

unsigned g_ops; /* operations run in this input */
bool g_trace;   /* FUZZ_TRACE=1: name every operation on stderr */

const char *op_name(uint8_t op)
{
	static const char *const names[OP_NR] = {
		"create", "destroy", "destroy_leak", "alloc", "free", "alloc_bulk", "free_bulk",
		"kmalloc", "kzalloc", "kvmalloc", "kfree", "ksize", "alloc_node", "kmalloc_node",
		"shrink", "prefill", "alloc_from_sheaf", "refill", "return_sheaf", "stats",
		"fault_set", "fault_clear", "bad_input", "alloc_many", "free_many", "thread", "rcu",
		"nolock"};
	return op < OP_NR ? names[op] : "?";
}

void step(Reader &r)
{
	if (g_ops++ >= kMaxOps) {
		r.i = r.n;
		return;
	}
	size_t at = r.i;
	uint8_t op = r.u8() % OP_NR;
	if (g_trace)
		fprintf(stderr, "dslab_api_fuzz: op %u %s at byte %zu (%zu live, %zu sheaves)%s\n",
			g_ops, op_name(op), at, M.objs.size(), M.sheaves.size(),
			M.off_lcore ? " off-lcore" : "");
	switch (op) {
	case OP_CREATE: op_create(r); break;
	case OP_DESTROY: op_destroy(r, false); break;
	case OP_DESTROY_LEAK: op_destroy(r, true); break;
	case OP_ALLOC: op_alloc(r); break;
	case OP_FREE: op_free(r); break;
	case OP_ALLOC_BULK: op_alloc_bulk(r); break;
	case OP_FREE_BULK: op_free_bulk(r); break;
	case OP_KMALLOC: op_kmalloc(r, false); break;
	case OP_KZALLOC: op_kmalloc(r, true); break;
	case OP_KVMALLOC: op_kvmalloc(r); break;
	case OP_KFREE: op_kfree(r); break;
	case OP_KSIZE: op_ksize(r); break;
	case OP_ALLOC_NODE: op_alloc_node(r); break;
	case OP_KMALLOC_NODE: op_kmalloc_node(r); break;
	case OP_SHRINK: op_shrink(r); break;
	case OP_PREFILL: op_prefill(r); break;
	case OP_ALLOC_FROM_SHEAF: op_alloc_from_sheaf(r); break;
	case OP_REFILL: op_refill(r); break;
	case OP_RETURN_SHEAF: op_return_sheaf(r); break;
	case OP_STATS: op_stats(); break;
	case OP_FAULT_SET: op_fault_set(r); break;
	case OP_FAULT_CLEAR: fault_clear(); break;
	case OP_BAD_INPUT: op_bad_input(r); break;
	case OP_ALLOC_MANY: op_alloc_many(r); break;
	case OP_FREE_MANY: op_free_many(r); break;
	case OP_THREAD: op_thread(r); break;
	case OP_RCU: op_rcu(r); break;
	case OP_NOLOCK: op_nolock(r); break;
	default: break;
	}
	check_step();
}

/* End of an input: give everything back; the allocator must be as before. */
void teardown(bool all_classes)
{
	fault_clear();
	dslab_rcu_barrier(); /* objects handed to kfree_rcu are freed */
	check_no_rcu_pending();
	while (!M.sheaves.empty())
		return_sheaf(M.sheaves.size() - 1);
	while (!M.objs.empty())
		free_obj(M.objs.size() - 1, (unsigned)M.objs.size());
	/* Some of those were kfree_nolock: nothing stays deferred. */
	dslab_deferred_barrier();
	for (CacheModel &cm : M.caches) {
		if (cm.c == nullptr)
			continue;
		check_cache(cm);
		destroy_cache(cm, false, 0);
	}
	/* Classes used in this input are back where they started (all of them
	 * now and then). */
	for (KClass &k : g_kclass) {
		if (k.touched || all_classes)
			check_kclass(k);
		k.touched = false;
	}
	CHECK(M.nlarge == 0 && M.live_bytes == 0);
	M = Model{};
}

int kclass_walk(dslab_cache *c, void *)
{
	const char *n = dslab_cache_name(c);
	if (strncmp(n, "kmalloc-", 8) == 0) {
		struct dslab_cache_stats s;
		CHECK(dslab_cache_stats(c, &s) == 0);
		g_kclass.push_back(KClass{c, dslab_cache_obj_size(c), s.objects_in_use, 0, false, false});
	}
	return 0;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	/* Two LOGICAL sockets unless the environment says otherwise. */
	setenv("DSLAB_TOPOLOGY", "0:0,1:1", 0);
	std::string prefix = "--file-prefix=fuzz" + std::to_string(getpid());
	const char *eal[] = {"dslab_api_fuzz", "--no-huge", "--no-pci", "-m", "512", "--no-shconf",
			     prefix.c_str(), "--log-level=lib.eal:error",
			     "--log-level=lib.dslab:critical", "-l", "0"};
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), const_cast<char **>(eal)) < 0) {
		fprintf(stderr, "dslab_api_fuzz: rte_eal_init failed: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	/* FUZZ_MEM=dpdk: slabs and large regions from DPDK memory (the EAL's
	 * 512 MiB) instead of mmap. */
	const char *mem = getenv("FUZZ_MEM");
	dslab_config cfg{};
	if (mem != nullptr && strcmp(mem, "dpdk") == 0) {
		cfg.mem_source = DSLAB_MEM_DPDK;
		g_max_leaks = kMaxLeaksDpdk;
		g_max_live_bytes = kMaxLiveBytesDpdk;
		g_max_large = kMaxLarge / 2;
	}
	if (dslab_init(&cfg) != 0) {
		fprintf(stderr, "dslab_api_fuzz: dslab_init failed: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	/* Capture the log: dslab's reports are checked (on_log_line()), the
	 * rest goes to stderr. dslab's errors are wanted, not just critical. */
	static cookie_io_functions_t io = {nullptr, log_write, nullptr, nullptr};
	FILE *f = fopencookie(nullptr, "w", io);
	if (f == nullptr || rte_openlog_stream(f) != 0) {
		fprintf(stderr, "dslab_api_fuzz: cannot capture the log\n");
		exit(1);
	}
	setvbuf(f, nullptr, _IOLBF, 0);
	rte_log_set_level_pattern("lib.dslab", RTE_LOG_ERR);

	pat_init();
	g_strict = getenv("FUZZ_STRICT") != nullptr && strcmp(getenv("FUZZ_STRICT"), "0") != 0;
	g_trace = getenv("FUZZ_TRACE") != nullptr && strcmp(getenv("FUZZ_TRACE"), "0") != 0;
	CHECK(dslab_cache_walk(kclass_walk, nullptr) == 0);
	std::sort(g_kclass.begin(), g_kclass.end(),
		  [](const KClass &a, const KClass &b) { return a.size < b.size; });
	CHECKF(!g_kclass.empty() && g_kclass.back().size == DSLAB_KMALLOC_MAX_SIZE,
	       "kmalloc classes not found (%zu)", g_kclass.size());
	fprintf(stderr, "dslab_api_fuzz: %u logical socket(s) (%s), %zu kmalloc classes, "
		"checked build: %d, memory: %s\n", dslab_socket_count(), getenv("DSLAB_TOPOLOGY"),
		g_kclass.size(), DSLAB_CHECKED, cfg.mem_source == DSLAB_MEM_DPDK ? "DPDK" : "auto");
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Reader r{data, size, 0};

	static unsigned inputs;
	bool all = inputs++ % 64 == 0;

	g_ops = 0;
	/* Nothing left over from the previous input (checked now and then:
	 * each input checks the classes it used at its end). */
	if (all)
		for (KClass &k : g_kclass)
			check_kclass(k);
	while (!r.done())
		step(r);
	teardown(all);
	return 0;
}
