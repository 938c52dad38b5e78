#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Median tables from the JSON files of `BENCH_OUT=DIR bench/run.sh`.

Usage: bench/table.py DIR
Prints Markdown tables of the *_median aggregates: ns per pair, per burst
object, working set (time and memory) and producer/consumer. Reads only
what the benchmark wrote; computes nothing but unit conversions.
"""
import glob
import json
import os
import re
import statistics
import sys

PEERS = ["dslab", "mempool", "glibc", "jemalloc", "mimalloc", "tcmalloc"]


def load(d):
    """Medians by name, and the working set's per round: {round: {name: b}}."""
    med, rounds = {}, {}
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        with open(f) as fh:
            data = json.load(fh)
        m = re.match(r"ws_r(\d+)_", os.path.basename(f))
        for b in data["benchmarks"]:
            if b.get("aggregate_name") != "median":
                continue
            name = b["run_name"].replace("/manual_time", "")
            med[name] = b
            if m:
                rounds.setdefault(int(m.group(1)), {})[name] = b
    return med, rounds


def ns(b, key):
    if b is None or key not in b:
        return "skipped"
    return f"{b[key] * 1e9:.2f}"


def ws_median_round(rounds, p):
    """The round whose t_obj is this peer's median (all its columns)."""
    bs = [r[f"BM_WorkingSet/{p}/64"] for r in rounds.values()
          if f"BM_WorkingSet/{p}/64" in r and "t_obj" in r[f"BM_WorkingSet/{p}/64"]]
    if not bs:
        return None
    bs.sort(key=lambda b: b["t_obj"])
    return bs[(len(bs) - 1) // 2]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    med, rounds = load(sys.argv[1])

    print("| peer | Pair 64 B | Pair 256 B | Kmalloc 64 B | Burst 64 B /obj | Burst 256 B /obj "
          "| BurstBulk 64 B /obj | BurstBulk 256 B /obj |")
    print("|---|---|---|---|---|---|---|---|")
    for p in PEERS:
        row = [ns(med.get(f"BM_Pair/{p}/64"), "t_pair"),
               ns(med.get(f"BM_Pair/{p}/256"), "t_pair"),
               ns(med.get(f"BM_Kmalloc/{p}/64"), "t_pair"),
               ns(med.get(f"BM_Burst/{p}/64"), "t_obj"),
               ns(med.get(f"BM_Burst/{p}/256"), "t_obj")]
        for s in (64, 256):
            b = med.get(f"BM_BurstBulk/{p}/{s}")
            row.append(ns(b, "t_obj") if b else "n/a (no bulk API)")
        print(f"| {p} | " + " | ".join(row) + " |")
    print()

    print("| peer | ns/obj (alloc+free) | ns alloc | ns free | cold ns alloc | cold ns free "
          "| minor faults/pass | mem_B | B/obj | rss_first_B | held_B |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in PEERS:
        b = med.get(f"BM_WorkingSet/{p}/64")
        if rounds:
            b = ws_median_round(rounds, p)
        if b is None:
            print(f"| {p} | skipped |" + " |" * 10)
            continue
        held = b["held_B"]
        print(f"| {p} | {b['t_obj'] * 1e9:.1f} | {b['ns_alloc']:.1f} | {b['ns_free']:.1f} "
              f"| {b['cold_ns_alloc']:.1f} | {b['cold_ns_free']:.1f} | {b.get('minflt_pass', float('nan')):.0f} "
              f"| {b['mem_B']:.0f} | {b['B_per_obj']:.2f} | {b['rss_first_B']:.0f} "
              f"| {'-' if held < 0 else f'{held:.0f}'} |")
    print()

    if rounds:
        print("Working set, ns/obj (alloc+free) in each round (peers of a round ran one after")
        print("the other); the table above shows each peer's median round:")
        print()
        print("| round | " + " | ".join(PEERS) + " | dslab / best peer |")
        print("|---|" + "---|" * (len(PEERS) + 1))
        for r in sorted(rounds):
            t = {p: rounds[r].get(f"BM_WorkingSet/{p}/64") for p in PEERS}
            t = {p: b["t_obj"] * 1e9 for p, b in t.items() if b is not None and "t_obj" in b}
            others = [v for p, v in t.items() if p != "dslab"]
            ratio = f"{t['dslab'] / min(others):.2f}x" if "dslab" in t and others else "-"
            print(f"| {r} | " + " | ".join(f"{t[p]:.1f}" if p in t else "-" for p in PEERS)
                  + f" | {ratio} |")
        print()

    print("| peer | ns/obj (wall) | Mobj/s | ring-full spins/iter | alloc retries/iter "
          "| line_ns |")
    print("|---|---|---|---|---|---|")
    for p in PEERS:
        b = med.get(f"BM_ProdCons/{p}/64")
        if b is None:
            print(f"| {p} | skipped | | | | |")
            continue
        line = f"{b['line_ns']:.0f}" if "line_ns" in b else "-"
        print(f"| {p} | {b['t_obj'] * 1e9:.1f} | {b['items_per_second'] / 1e6:.2f} "
              f"| {b['ring_full_spins']:.0f} | {b['alloc_retries']:.0f} | {line} |")


if __name__ == "__main__":
    main()
