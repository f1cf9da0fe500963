#!/usr/bin/env python3
"""Writes src/gpx_native_table.c: the tables that place a duration in
microseconds in its native-histogram bucket (src/gpx_catalog.h).

A bucket of schema 3 with index i holds the durations d (seconds) with
2^((i-1)/8) < d <= 2^(i/8). In whole microseconds, slot s (index
s + GPX_NATIVE_INDEX_OFFSET) holds d_us with upper[s-1] < d_us <= upper[s],
where upper[s] = floor(1e6 * 2^(i/8)): computed here with 60 significant
digits, so that no bound is off by one where 1e6 * 2^(i/8) falls close to a
whole number (floating point is not trusted with that).

The request path finds a duration's slot in two steps: its count of
leading zero bits and its 8 bits from the leading one on (its place among
128 equal parts of its power of two) index `first`, a row of 256 entries
per count of zeros, for a first slot; one compare with `upper` moves it on
by one when a bound falls inside that part. A part is at most 1/128 of a
power of two, a bucket at least 2^(1/8) - 1 (9%) of one: a part never
holds more than one bound, which this script checks. No special case
costs an instruction: 0 us (no leading one: zeros 63, bits 0) has an entry
of its own, slot 0; durations past the last bound find the last slot,
whose `upper` is the largest number.

    tools/gen_native_table.py > src/gpx_native_table.c   (make native-table)
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, getcontext

getcontext().prec = 60

SCHEMA = 3
FIRST_INDEX = -159  # 1 us: 2^(-160/8) s < 1e-6 s <= 2^(-159/8) s
LAST_INDEX = 128  # 2^16 s, 18.2 hours: longer durations are counted here
OFFSET = FIRST_INDEX - 1  # slot s <-> index s + OFFSET; slot 0 is the zero bucket
SLOTS = LAST_INDEX - OFFSET + 1


def upper_us(index: int) -> int:
    exact = Decimal(10) ** 6 * Decimal(2) ** (Decimal(index) / Decimal(2**SCHEMA))
    return int(exact.to_integral_value(rounding=ROUND_FLOOR))


def main() -> None:
    upper = [0] + [upper_us(s + OFFSET) for s in range(1, SLOTS)]
    max_us = upper[-1]
    uint64_max = 2**64 - 1

    def slot_of(d: int) -> int:
        if d == 0:
            return 0
        d = min(d, max_us)
        lo, hi = 1, SLOTS - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if d <= upper[mid]:
                hi = mid
            else:
                lo = mid + 1
        return lo

    assert upper[1] >= 1 > upper_us(OFFSET), "slot 1 must be the first to hold 1 us"
    def slot_any(d: int) -> int:
        """slot_of without the clamp: past the last bound is the last slot."""
        return SLOTS - 1 if d > max_us else slot_of(d)

    first = []
    for clz in range(64):
        bits = 64 - clz
        for top in range(256):
            if top < 128:
                # No leading one in the 8 bits: only 0 us (63 zeros, no bits).
                first.append(0)
                continue
            # the smallest and largest durations of this part of the power of two
            if bits >= 8:
                lo = top << (bits - 8)
                hi = ((top + 1) << (bits - 8)) - 1
            else:
                shift = 8 - bits
                if top & ((1 << shift) - 1):
                    first.append(0)  # no duration lands here
                    continue
                lo = hi = top >> shift
            s = slot_any(lo)
            assert slot_any(hi) <= s + 1, (clz, top)
            # the compare with upper[s] moves exactly the durations above it
            assert slot_any(hi) == s or upper[s] < hi, (clz, top)
            first.append(s)
    upper[-1] = uint64_max

    print("/* gpx_native_table.c - where a duration lands in its native-histogram bucket.")
    print(" *")
    print(" * Written by tools/gen_native_table.py (make native-table), which says how")
    print(" * the tables are made and checks them; do not edit. */")
    print('#include "gpx_catalog.h"')
    print()
    print(f"#if GPX_NATIVE_SLOTS != {SLOTS} || GPX_NATIVE_INDEX_OFFSET != ({OFFSET}) || "
          f"GPX_NATIVE_MAX_US != {max_us}u")
    print('#error "gpx_catalog.h and tools/gen_native_table.py disagree"')
    print("#endif")
    print()
    print("const uint64_t gpx_native_upper_us[GPX_NATIVE_SLOTS] = {")
    for i in range(0, SLOTS, 6):
        print("    " + ", ".join(f"{u}u" for u in upper[i:i + 6]) + ",")
    print("};")
    print()
    print("const uint16_t gpx_native_first[64 * 256] = {")
    for i in range(0, len(first), 16):
        print("    " + ", ".join(str(s) for s in first[i:i + 16]) + ",")
    print("};")
    import sys
    print(f"slots {SLOTS} offset {OFFSET} max_us {max_us}", file=sys.stderr)


if __name__ == "__main__":
    main()
