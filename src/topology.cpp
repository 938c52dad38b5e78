/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Topology: which socket each lcore belongs to.
 *
 * By default DPDK's (rte_lcore_to_socket_id). A topology override
 * "lcore:socket,..." (struct dslab_config.topology or DSLAB_TOPOLOGY) assigns
 * LOGICAL sockets, so that multi-socket logic runs on a one-socket machine;
 * it is logged as such. Logical sockets take their memory from NUMA node
 * (socket % nodes). Written once at dslab_init(), read-only afterwards.
 */
#include <cerrno>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <numa.h>
#include <sched.h>

#include "internal.h"

namespace dslab {
namespace {

struct Topology {
	bool overridden;
	bool listed[RTE_MAX_LCORE];          /* override names this lcore */
	int8_t lcore_socket[RTE_MAX_LCORE];  /* override's socket */
	bool valid[RTE_MAX_NUMA_NODES];
	unsigned nsockets;
	int first;                           /* lowest valid socket */
	int numa_nodes;                      /* configured NUMA nodes, 0: none */
	bool has_lcores[RTE_MAX_NUMA_NODES]; /* an EAL lcore runs there */
	int8_t cpu_socket[1024];             /* CPU -> socket, -1: unknown; read
						by threads with no lcore id (no
						libnuma call on that path) */
} topo;

int parse_override(const char *spec)
{
	const char *p = spec;

	while (*p != '\0') {
		char *end;
		errno = 0;
		unsigned long lc = strtoul(p, &end, 10);
		if (end == p || *end != ':' || errno != 0 || lc >= RTE_MAX_LCORE)
			goto bad;
		p = end + 1;
		unsigned long s = strtoul(p, &end, 10);
		if (end == p || errno != 0 || s >= RTE_MAX_NUMA_NODES)
			goto bad;
		if (topo.listed[lc]) {
			DSLAB_LOG(ERR, "topology override: lcore %lu listed twice", lc);
			return -EINVAL;
		}
		topo.listed[lc] = true;
		topo.lcore_socket[lc] = (int8_t)s;
		topo.valid[s] = true;
		p = end;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	return 0;
bad:
	DSLAB_LOG(ERR, "bad topology override \"%s\" (want lcore:socket,... with lcore < %d, socket < %d)",
		  spec, RTE_MAX_LCORE, RTE_MAX_NUMA_NODES);
	return -EINVAL;
}

} // namespace

int topo_init(const char *spec)
{
	memset(&topo, 0, sizeof(topo));
	topo.numa_nodes = numa_available() >= 0 ? numa_num_configured_nodes() : 0;
	if (spec == nullptr)
		spec = getenv("DSLAB_TOPOLOGY");
	if (spec != nullptr && *spec != '\0') {
		int rc = parse_override(spec);
		if (rc < 0)
			return rc;
		topo.overridden = true;
		/* Logical sockets are dense: every id up to the largest exists. */
		int max = 0;
		for (int s = 0; s < RTE_MAX_NUMA_NODES; s++)
			if (topo.valid[s])
				max = s;
		for (int s = 0; s <= max; s++)
			topo.valid[s] = true;
		DSLAB_LOG(NOTICE, "topology override in use: %d LOGICAL sockets (\"%s\"), "
			  "memory of logical socket s from NUMA node s %% %d",
			  max + 1, spec, topo.numa_nodes > 0 ? topo.numa_nodes : 1);
	} else {
		for (unsigned i = 0; i < rte_socket_count(); i++) {
			int s = rte_socket_id_by_idx(i);
			if (s >= 0 && s < RTE_MAX_NUMA_NODES)
				topo.valid[s] = true;
		}
		topo.valid[0] |= rte_socket_count() == 0;
	}
	topo.first = -1;
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		if (!topo.valid[s])
			continue;
		topo.nsockets++;
		if (topo.first < 0)
			topo.first = s;
	}
	unsigned lc;
	RTE_LCORE_FOREACH(lc)
		topo.has_lcores[topo_lcore_socket(lc)] = true;
	for (int cpu = 0; cpu < (int)RTE_DIM(topo.cpu_socket); cpu++) {
		int s = !topo.overridden && topo.numa_nodes > 0 ? numa_node_of_cpu(cpu) : -1;
		topo.cpu_socket[cpu] = (int8_t)(topo_socket_valid(s) ? s : -1);
	}
	return 0;
}

bool topo_socket_has_lcores(int socket) { return topo_socket_valid(socket) && topo.has_lcores[socket]; }

void topo_fini() { memset(&topo, 0, sizeof(topo)); }
bool topo_overridden() { return topo.overridden; }
unsigned topo_socket_count() { return topo.nsockets; }

bool topo_socket_valid(int socket)
{
	return socket >= 0 && socket < RTE_MAX_NUMA_NODES && topo.valid[socket];
}

int topo_lcore_socket(unsigned lcore)
{
	if (topo.overridden)
		return lcore < RTE_MAX_LCORE && topo.listed[lcore] ? topo.lcore_socket[lcore]
								   : topo.first;
	int s = lcore < RTE_MAX_LCORE ? (int)rte_lcore_to_socket_id(lcore) : -1;
	return topo_socket_valid(s) ? s : topo.first;
}

int topo_caller_socket()
{
	unsigned lc = rte_lcore_id();

	if (lc < RTE_MAX_LCORE)
		return topo_lcore_socket(lc);
	if (!topo.overridden && topo.numa_nodes > 0) {
		/* A thread with no lcore id: the node of the CPU it runs on. */
		int cpu = sched_getcpu(); /* vDSO: no system call */
		if (cpu >= 0 && cpu < (int)RTE_DIM(topo.cpu_socket) && topo.cpu_socket[cpu] >= 0)
			return topo.cpu_socket[cpu];
	}
	return topo.first;
}

int topo_numa_node(int socket)
{
	if (topo.numa_nodes <= 0)
		return -1;
	return topo.overridden ? socket % topo.numa_nodes : socket;
}

bool cpu_has_prefetchw()
{
#if defined(__x86_64__) || defined(__i386__)
	/* CPUID traps to the hypervisor in a VM: once. */
	static const bool has = [] {
		unsigned a, b, c, d;
		return __get_cpuid(0x80000001, &a, &b, &c, &d) != 0 && (c & bit_PRFCHW) != 0;
	}();
	return has;
#else
	return true;
#endif
}

} // namespace dslab

extern "C" unsigned dslab_socket_count(void) { return dslab::topo_socket_count(); }

extern "C" int dslab_lcore_socket(unsigned lcore_id)
{
	if (!dslab::initialised() || lcore_id >= RTE_MAX_LCORE) {
		rte_errno = EINVAL;
		return -1;
	}
	return dslab::topo_lcore_socket(lcore_id);
}
