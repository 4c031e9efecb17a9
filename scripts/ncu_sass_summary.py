#!/usr/bin/env python3
"""Summarises the SASS page that scripts/gpu-ncu-decode.sh writes (ncu-sass.csv, one section per profiled kernel).

For each kernel: its SASS size, the warp instructions it executed and how they split by execution count (an instruction
executed once per warp, once per column, ...: the groups show which parts of the code the time goes to), the stall reasons
over all samples, and the instructions with the most stall samples.

    python3 scripts/ncu_sass_summary.py ncu-sass.csv [--top 12] [--kernel N]
"""
import argparse
import csv
from collections import Counter


def sections(path):
    """Yields (kernel name, rows as dicts) for each 'Kernel Name' section of the CSV."""
    name, lines = None, []
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith('"Kernel Name"'):
            if name is not None:
                yield name, parse(lines)
            name, lines = line.split(",")[1].strip().strip('"'), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        yield name, parse(lines)


def parse(lines):
    rows = list(csv.reader(lines))
    if not rows:
        return []
    head = rows[0]
    return [dict(zip(head, r)) for r in rows[1:] if len(r) == len(head)]


def number(text):
    try:
        return float(text.replace(",", ""))
    except (ValueError, AttributeError):
        return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=12, help="instructions listed by stall samples")
    ap.add_argument("--kernel", type=int, help="only the N-th section (0-based)")
    args = ap.parse_args()
    for index, (name, rows) in enumerate(sections(args.csv)):
        if args.kernel is not None and index != args.kernel:
            continue
        executed = [number(r.get("Instructions Executed", "0")) for r in rows]
        samples = [number(r.get("Warp Stall Sampling (All Samples)", "0")) for r in rows]
        total, sampled = sum(executed), sum(samples) or 1.0
        print(f"[{index}] {name}: {len(rows)} SASS instructions, {total:,.0f} warp instructions executed, {sum(samples):,.0f} stall samples")
        groups = Counter()
        for e in executed:
            if e > 0:
                groups[int(e)] += 1
        print("    executed × count (instructions run that many times; their share of all executed):")
        for times, count in sorted(groups.items(), key=lambda kv: -kv[0] * kv[1]):
            print(f"      {times:>9,} × {count:>5}  {times * count / total:6.1%}")
        stalls = [k for k in (rows[0].keys() if rows else []) if k.startswith("stall_") and "Not Issued" not in k]
        reasons = sorted(((sum(number(r[k]) for r in rows), k[6:]) for k in stalls), reverse=True)
        print("    stall reasons: " + ", ".join(f"{k} {v / sampled:.1%}" for v, k in reasons if v > 0))
        print("    most sampled instructions:")
        for r, s in sorted(zip(rows, samples), key=lambda rs: -rs[1])[: args.top]:
            top = sorted(((number(r[k]), k[6:]) for k in stalls), reverse=True)[:2]
            why = ", ".join(f"{k} {int(v)}" for v, k in top if v > 0)
            print(f"      {s / sampled:6.1%}  exec {number(r.get('Instructions Executed', '0')):>9,.0f}  {r.get('Source', '')[:70]:<70}  {why}")


if __name__ == "__main__":
    main()
