#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The dslab authors
"""Write the seed corpus of dslab_api_fuzz (fuzz/corpus/*.bin).

Each seed is a small program in the fuzzer's input language: an opcode byte
(enum Op in api_fuzz.cpp) followed by its argument bytes, little-endian.
Keep the opcode numbers and argument layouts in step with api_fuzz.cpp.
Run from anywhere: python3 fuzz/gen_corpus.py
"""
import os
import struct

(CREATE, DESTROY, DESTROY_LEAK, ALLOC, FREE, ALLOC_BULK, FREE_BULK, KMALLOC,
 KZALLOC, KVMALLOC, KFREE, KSIZE, ALLOC_NODE, KMALLOC_NODE, SHRINK, PREFILL,
 ALLOC_FROM_SHEAF, REFILL, RETURN_SHEAF, STATS, FAULT_SET, FAULT_CLEAR,
 BAD_INPUT, ALLOC_MANY, FREE_MANY, THREAD, RCU) = range(27)

# Socket selectors (pick_socket): -1, 0, 1 (logical), invalid.
S_ANY, S_0, S_1, S_BAD = 0, 1, 2, 4
# Sheaf capacity selectors (op_create): 0, AUTO, 1 + v % 8, 1 + v % 64.
CAP_0, CAP_AUTO, CAP_SMALL, CAP_MID = 0, 1, 2, 6


def u8(v):
    return struct.pack('<B', v & 0xff)


def u16(v):
    return struct.pack('<H', v & 0xffff)


def u32(v):
    return struct.pack('<I', v & 0xffffffff)


def create(slot, size, cap_sel=CAP_SMALL, cap_v=3, align_sel=0, barn=0, flags=0):
    # size_sel 2: size = 1 + v % 64; 6: 1 + v % 70000
    sel = 2 if size <= 64 else 6
    return (u8(CREATE) + u8(slot) + u8(sel) + u32(size - 1) + u8(align_sel) + u8(cap_sel) +
            u8(cap_v) + u8(barn) + u8(flags))


def create_big(slot, below_max, cap_sel=CAP_SMALL, cap_v=1):
    # size_sel 0x87: size = DSLAB_CACHE_MAX_OBJ_SIZE - v % 768 KiB
    return (u8(CREATE) + u8(slot) + u8(0x87) + u32(below_max) + u8(0) + u8(cap_sel) +
            u8(cap_v) + u8(0) + u8(0))


def destroy(slot, how=0):
    return u8(DESTROY) + u8(slot) + u8(how)


def destroy_leak(slot, how=3):
    return u8(DESTROY_LEAK) + u8(slot) + u8(how)


def alloc(slot, zero=0):
    return u8(ALLOC) + u8(slot) + u8(zero)


def free(idx, how=0):
    return u8(FREE) + u16(idx) + u8(how)


def alloc_bulk(slot, n, zero=0):
    return u8(ALLOC_BULK) + u8(slot) + u8(n - 1) + u8(zero)


def free_bulk(slot, n, mix=0, start=0):
    return u8(FREE_BULK) + u8(slot) + u8(n - 1) + u8(mix) + u16(start)


def kmalloc(size, zero=False):
    # sel 6: size = 1 + v % 100000
    return u8(KZALLOC if zero else KMALLOC) + u8(6) + u32(size - 1)


def kvmalloc(size, zero=0):
    # sel 1: size = 1 + v % 4 MiB
    return u8(KVMALLOC) + u8(1) + u32(size - 1) + u8(zero)


def kfree(idx):
    return u8(KFREE) + u16(idx)


def ksize(idx):
    return u8(KSIZE) + u16(idx)


def alloc_node(slot, ssel, zero=0):
    return u8(ALLOC_NODE) + u8(slot) + u8(ssel) + u8(zero)


def kmalloc_node(size, ssel, zero=0):
    return u8(KMALLOC_NODE) + u8(6) + u32(size - 1) + u8(ssel) + u8(zero)


def shrink(who):
    return u8(SHRINK) + u8(who)


def prefill(slot, n):
    # sel 3: n = v % 512
    return u8(PREFILL) + u8(slot) + u8(3) + u16(n)


def alloc_from_sheaf(which, zero=0):
    return u8(ALLOC_FROM_SHEAF) + u8(which) + u8(zero)


def refill(which, n):
    return u8(REFILL) + u8(which) + u8(0) + u16(n)


def return_sheaf(which):
    return u8(RETURN_SHEAF) + u8(which)


def stats():
    return u8(STATS)


def fault_set(site, after, count):
    # count byte: 7 -> unlimited, else 1 + c % 4
    return u8(FAULT_SET) + u8(site) + u8(after) + u8(count)


def fault_clear():
    return u8(FAULT_CLEAR)


def bad(sub, idx=0):
    return u8(BAD_INPUT) + u8(sub) + u16(idx)


def alloc_many(slot, n, zero=0):
    return u8(ALLOC_MANY) + u8(slot) + u8(n - 1) + u8(zero)


def free_many(who, n, order=0):
    return u8(FREE_MANY) + u8(who) + u8(n - 1) + u8(order)


def thread(k):
    return u8(THREAD) + u8(k - 1)


# op_rcu: 0-1 kvfree_rcu, 2 kfree_rcu with a head, 3 quiescent,
# 4 barrier on a cache slot (idx), 5 global barrier.
def rcu(what, idx=0):
    return u8(RCU) + u8(what) + u16(idx)


SEEDS = {
    'cache_basic': [create(0, 64, CAP_SMALL, 3), alloc(0), alloc(0), alloc(0, 1), ksize(1),
                    free(0), alloc_many(0, 20), free_many(0, 10, 0), stats(), destroy(0)],
    'bulk_barn': [create(0, 48, CAP_SMALL, 7, barn=0x5), alloc_bulk(0, 40), alloc_bulk(0, 33, 1),
                  free_bulk(0, 64), free_bulk(0, 10, mix=1), alloc_many(0, 200),
                  free_many(0, 200, 1), shrink(0), stats(), destroy(0)],
    'no_sheaves': [create(1, 200, CAP_0), alloc(1), alloc_bulk(1, 10), free(3, 1),
                   prefill(1, 0), prefill(1, 3), alloc_from_sheaf(1), return_sheaf(0),
                   return_sheaf(0), free_many(1, 20, 2), shrink(1), destroy(1)],
    'kmalloc': [kmalloc(1), kmalloc(8), kmalloc(1024), kmalloc(1025, True), kmalloc(32768),
                kmalloc(32769), kmalloc(100000, True), kvmalloc(3 << 20, 1), kvmalloc(100),
                ksize(6), kfree(0), kfree(2), free(0, 2), stats(), shrink(0x80 | 3)],
    'prefill': [create(2, 32, CAP_SMALL, 7), prefill(2, 5), alloc_from_sheaf(0),
                alloc_from_sheaf(0, 1), refill(0, 40), alloc_from_sheaf(0), prefill(2, 100),
                alloc_from_sheaf(1), return_sheaf(0), refill(0, 3), return_sheaf(0),
                prefill(2, 8), return_sheaf(0), stats(), destroy(2)],
    'faults': [create(0, 512, CAP_SMALL, 1, barn=0x5), fault_set(0, 0, 7), alloc_many(0, 30),
               kvmalloc(1 << 20), prefill(0, 50), kmalloc(4000), fault_clear(), alloc(0),
               fault_set(1, 1, 7), alloc_many(0, 50), free_many(0, 50, 0), fault_set(2, 0, 1),
               create(1, 24), kvmalloc(40000), fault_clear(), create(1, 24), alloc_bulk(1, 9),
               fault_set(0, 2, 2), alloc_bulk(0, 60), refill(0, 0), fault_clear(), stats()],
    'leak': [create(3, 100, CAP_SMALL, 2), alloc_many(3, 12), alloc_node(3, S_1),
             destroy_leak(3, 5), create(3, 100), alloc(3), destroy(3)],
    'bad_input': [create(0, 16, CAP_SMALL, 3), alloc(0), create(1, 40, CAP_0), alloc(1),
                  kvmalloc(70000), kmalloc(48)] + [bad(i, 1) for i in range(12)] +
                 [create(0, 16), stats()],
    'remote': [create(0, 128, CAP_SMALL, 4), alloc_node(0, S_1), alloc_node(0, S_1, 1),
               alloc_node(0, S_0), alloc_node(0, S_ANY), alloc_node(0, S_BAD),
               kmalloc_node(64, S_1), kmalloc_node(50000, S_1, 1), kmalloc_node(8, S_BAD),
               free_bulk(0, 4), kfree(0), kfree(0), stats(), destroy(0)],
    'thread': [create(0, 256, CAP_SMALL, 3), alloc_many(0, 10), thread(6), alloc_many(0, 30),
               free_many(0, 15, 1), kmalloc(700), kfree(0), shrink(0), prefill(0, 4),
               alloc_from_sheaf(0), alloc_bulk(0, 5), free_many(0, 50, 0)],
    'big_objects': [create_big(0, 0), create_big(1, 400 << 10, CAP_0), alloc_many(0, 5),
                    alloc_bulk(1, 3, 1), alloc_node(0, S_1), free_many(4, 4, 1), prefill(0, 3),
                    alloc_from_sheaf(0), return_sheaf(0), shrink(0), shrink(1), stats(),
                    destroy(0), destroy(1)],
    # Memory runs out in the middle of a bulk allocation (one object per
    # slab: every refill needs a chunk), and while a prefilled sheaf grows.
    'bulk_partial_fail': [create_big(0, 0, CAP_SMALL, 1), fault_set(0, 3, 7), alloc_bulk(0, 10),
                          fault_clear(), alloc_bulk(0, 4), fault_set(0, 1, 2), alloc_bulk(0, 6),
                          fault_clear(), stats(), destroy(0)],
    'refill_grow_fail': [create(1, 32, CAP_SMALL, 3), prefill(1, 2), fault_set(1, 0, 7),
                         refill(0, 100), fault_clear(), fault_set(0, 0, 7), refill(0, 300),
                         fault_clear(), refill(0, 40), alloc_from_sheaf(0), return_sheaf(0),
                         destroy(1)],
    'kfree_rcu': [create(0, 64, CAP_SMALL, 7), create(1, 24, CAP_0), alloc_many(0, 40),
                  alloc_many(1, 5), kmalloc(300), kvmalloc(100000), rcu(0, 0), rcu(2, 1),
                  rcu(2, 2), rcu(1, 40), rcu(3), rcu(4, 0), alloc_many(0, 10), rcu(0, 3),
                  rcu(2, 4), shrink(0), rcu(5), fault_set(2, 0, 7), rcu(0, 5), rcu(0, 6),
                  fault_clear(), rcu(4, 1), stats(), destroy(0), destroy(1)],
    'four_caches': [create(0, 8, CAP_AUTO), create(1, 60000, CAP_SMALL, 0, align_sel=4 + 12 * 2),
                    create(2, 64, CAP_MID, 9, align_sel=7, flags=1), create(3, 1000, CAP_0, flags=2),
                    create(2, 64), alloc_many(0, 50), alloc_bulk(1, 3), alloc_many(2, 20),
                    alloc_bulk(3, 5, 1), free_many(4, 40, 2), shrink(1), stats(), destroy(1),
                    destroy(0, 0x80)],
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, ops in SEEDS.items():
        with open(os.path.join(out, name + '.bin'), 'wb') as f:
            f.write(b''.join(ops))


if __name__ == '__main__':
    main()
