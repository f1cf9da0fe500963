#!/usr/bin/env python3
"""Writes src/gpx_native_table.c: the tables that place a duration in
microseconds in its native-histogram bucket (src/gpx_catalog.h).

A bucket of schema 3 with index i holds the durations d (seconds) with
2^((i-1)/8) < d <= 2^(i/8). In whole microseconds, slot s (index
s + GPX_NATIVE_INDEX_OFFSET) holds d_us with upper[s-1] < d_us <= upper[s],
where upper[s] = floor(1e6 * 2^(i/8)): computed here with 60 significant
digits, so that no bound is off by one where 1e6 * 2^(i/8) falls close to a
whole number (floating point is not trusted with that).

The request path finds a duration's slot in two steps: the 8 bits below a
duration's leading one (its place among 128 equal parts of its power of
two) give a first slot from `first`; one compare with `upper` moves it on
by one when the bound falls inside that part. A part is at most 1/128 of a
power of two, a bucket at least 2^(1/8) - 1 (9%) of one: a part never
holds more than one bound, which this script checks.

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
MAX_US = None  # set below: the last bucket's bound
CLZ_FIRST = None  # rows of `first` start at this count of leading zeros


def upper_us(index: int) -> int:
    exact = Decimal(10) ** 6 * Decimal(2) ** (Decimal(index) / Decimal(2**SCHEMA))
    return int(exact.to_integral_value(rounding=ROUND_FLOOR))


def main() -> None:
    upper = [0] + [upper_us(s + OFFSET) for s in range(1, SLOTS)]
    max_us = upper[-1]
    clz_first = 64 - max_us.bit_length()

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
    first = []
    for clz in range(clz_first, 64):
        bits = 64 - clz
        for part in range(128):
            top = 128 + part
            # the smallest and largest durations of this part of the power of two
            if bits >= 8:
                lo = top << (bits - 8)
                hi = ((top + 1) << (bits - 8)) - 1
            else:
                shift = 8 - bits
                if top & ((1 << shift) - 1):
                    first.append(first[-1] if first else 1)  # no duration lands here
                    continue
                lo = hi = top >> shift
            s = slot_of(lo)
            assert slot_of(hi) <= s + 1, (clz, part)
            first.append(s)

    print("/* gpx_native_table.c - where a duration lands in its native-histogram bucket.")
    print(" *")
    print(" * Written by tools/gen_native_table.py (make native-table), which says how")
    print(" * the tables are made and checks them; do not edit. */")
    print('#include "gpx_catalog.h"')
    print()
    print(f"#if GPX_NATIVE_SLOTS != {SLOTS} || GPX_NATIVE_INDEX_OFFSET != ({OFFSET}) || "
          f"GPX_NATIVE_CLZ_FIRST != {clz_first} || GPX_NATIVE_MAX_US != {max_us}u")
    print('#error "gpx_catalog.h and tools/gen_native_table.py disagree"')
    print("#endif")
    print()
    print("const uint64_t gpx_native_upper_us[GPX_NATIVE_SLOTS] = {")
    for i in range(0, SLOTS, 6):
        print("    " + ", ".join(f"{u}u" for u in upper[i:i + 6]) + ",")
    print("};")
    print()
    print("const uint16_t gpx_native_first[GPX_NATIVE_FIRST_ROWS * 128] = {")
    for i in range(0, len(first), 16):
        print("    " + ", ".join(str(s) for s in first[i:i + 16]) + ",")
    print("};")
    import sys
    print(f"slots {SLOTS} offset {OFFSET} clz_first {clz_first} rows {64 - clz_first} max_us {max_us}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
