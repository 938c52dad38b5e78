#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The dslab authors
"""Medians of benchmark repetitions grouped by the machine's state.

Each repetition of dslab_kfree_rcu_bench and dslab_remote_bench records
line_ns, the cache-line transfer time between its two lcores measured just
before it (line_latency.h). On a shared VM that time is bimodal and every
cross-lcore figure follows it, so a median over repetitions taken in both
states means nothing. This groups them: "near" below --split ns (default
100), "far" above, and prints per benchmark and group the median of
items_per_second (M/s), t_free (ns) or real time, with the repetition count
and the median line_ns; --counter NAME (repeatable) adds that counter's
median.

    BENCH --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true \\
          --benchmark_out=run.json --benchmark_out_format=json
    bench/by_state.py run.json [--split 100] [--counter mean_sheaves ...]
"""
import json
import statistics
import sys


def metric(r):
    if "t_free" in r:
        return r["t_free"] * 1e9, "ns/free"
    if "items_per_second" in r:
        return r["items_per_second"] / 1e6, "M/s"
    return r["real_time"], r.get("time_unit", "ns")


def main():
    args = sys.argv[1:]
    split = 100.0
    if "--split" in args:
        i = args.index("--split")
        split = float(args[i + 1])
        del args[i:i + 2]
    extra = []
    while "--counter" in args:
        i = args.index("--counter")
        extra.append(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    with open(args[0]) as f:
        data = json.load(f)
    groups = {}
    order = []
    for r in data["benchmarks"]:
        if r.get("run_type") != "iteration" or "line_ns" not in r:
            continue
        name = r["run_name"]
        if name not in order:
            order.append(name)
        state = "near" if r["line_ns"] < split else "far"
        value, unit = metric(r)
        groups.setdefault((name, state), []).append((value, r["line_ns"], r))
        groups.setdefault((name, "unit"), unit)
    print(f"| benchmark | near (< {split:g} ns line transfer) | far |")
    print("|---|---|---|")
    # Peers side by side: by the arguments after the peer, then the peer.
    def key(n):
        parts = n.split("/")
        return (parts[0], [p for p in parts[2:]], parts[1] if len(parts) > 1 else "")
    for name in sorted(order, key=key):
        unit = groups[(name, "unit")]
        cells = []
        for state in ("near", "far"):
            v = groups.get((name, state), [])
            if not v:
                cells.append("-")
                continue
            med = statistics.median(x for x, _, _ in v)
            lns = statistics.median(l for _, l, _ in v)
            more = "".join(f", {c} {statistics.median(r[c] for _, _, r in v):.3g}"
                           for c in extra if all(c in r for _, _, r in v))
            cells.append(f"{med:.3g} {unit} (n={len(v)}, {lns:.0f} ns{more})")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
