#!/usr/bin/env python3
"""Per-request costs of two callgrind dumps side by side: which functions one server spends
instructions in that the other does not. Used with the dumps `scripts/bench-instructions`
keeps when HELPYAP_CALLGRIND_KEEP names a directory (cg.1 is ours, cg.2 bare, cg.3 minimal).

Usage: scripts/callgrind-diff.py DUMP_A REQUESTS_A DUMP_B REQUESTS_B [FUNCTION ...]
With no FUNCTION: the 40 functions whose own (exclusive) cost differs most. With FUNCTIONs
(names as callgrind prints them): each one's inclusive cost and its callees', A against B.
"""
import collections
import re
import sys


def parse(path):
    """Exclusive cost per function, cost per (caller, callee) call arc, calls per callee."""
    names, own, arcs, calls = {}, collections.Counter(), collections.Counter(), collections.Counter()
    function = callee = pending = None

    def name(text):
        match = re.match(r"\((\d+)\)(?: (.*))?", text)
        if not match:
            return text
        if match.group(2):
            names[match.group(1)] = match.group(2)
        return names[match.group(1)]

    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("fn="):
            function = name(line[3:])
        elif line.startswith("cfn="):
            callee = name(line[4:])
        elif line.startswith("calls="):
            pending = (callee, int(line[6:].split()[0]))
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            parts = line.split()
            if len(parts) < 2:
                continue
            cost = int(parts[1])
            if pending:
                arcs[(function, pending[0])] += cost
                calls[pending[0]] += pending[1]
                pending = None
            else:
                own[function] += cost
    return own, arcs, calls


def inclusive(own, arcs):
    total = collections.Counter(own)
    for (caller, callee), cost in arcs.items():
        if caller != callee:
            total[caller] += cost
    return total


def main():
    path_a, requests_a, path_b, requests_b, *functions = sys.argv[1:]
    requests_a, requests_b = float(requests_a), float(requests_b)
    own_a, arcs_a, calls_a = parse(path_a)
    own_b, arcs_b, calls_b = parse(path_b)
    print(f"per request: A {sum(own_a.values()) / requests_a:.0f}, B {sum(own_b.values()) / requests_b:.0f}")
    if not functions:
        keys = set(own_a) | set(own_b)
        diff = lambda k: own_a[k] / requests_a - own_b[k] / requests_b
        print(f"{'A':>8} {'B':>8} {'A-B':>8} {'calls A':>7} {'calls B':>7}  exclusive")
        for key in sorted(keys, key=lambda k: -abs(diff(k)))[:40]:
            print(f"{own_a[key] / requests_a:8.0f} {own_b[key] / requests_b:8.0f} {diff(key):8.0f} "
                  f"{calls_a[key] / requests_a:7.2f} {calls_b[key] / requests_b:7.2f}  {key[:150]}")
        return
    incl_a, incl_b = inclusive(own_a, arcs_a), inclusive(own_b, arcs_b)
    for function in functions:
        print(f"== {function}: inclusive {incl_a[function] / requests_a:.0f} vs "
              f"{incl_b[function] / requests_b:.0f}, own {own_a[function] / requests_a:.0f} vs "
              f"{own_b[function] / requests_b:.0f}")
        callees_a = collections.Counter({c: v for (f, c), v in arcs_a.items() if f == function and c != f})
        callees_b = collections.Counter({c: v for (f, c), v in arcs_b.items() if f == function and c != f})
        for callee in sorted(set(callees_a) | set(callees_b),
                             key=lambda c: -max(callees_a[c] / requests_a, callees_b[c] / requests_b))[:25]:
            print(f"   {callees_a[callee] / requests_a:7.0f} {callees_b[callee] / requests_b:7.0f}  {callee[:140]}")


if __name__ == "__main__":
    main()
