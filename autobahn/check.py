#!/usr/bin/env python3
"""Summarize an Autobahn|Testsuite report and compare it with the committed expectations.

    check.py server|client [--agent NAME] [--report PATH]... [--expected PATH] [--write-expected]

Several --report (the index.json of runs that split the cases between them, e.g. in parallel)
are checked as one run. The agent is the report's only one unless --agent names it (the core's
testees are "wsmachine", the tokio adapter's "wsmachine-tokio"); either is checked against the
same expectations.

Exit 1 on any FAILED case, any case whose behavior or behaviorClose differs from its
expectation other than by improving, or any expected case (among those the run selected)
missing from the report. Improvements are reported as "update expected" and do not fail.
"""
import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
# Higher is better; OK and INFORMATIONAL rank alike. Anything else (FAILED, WRONG CODE,
# UNCLEAN, FAILED BY CLIENT, NO_CLOSE) ranks lowest.
RANK = {"OK": 3, "INFORMATIONAL": 3, "NON-STRICT": 2, "UNIMPLEMENTED": 1}


def case_key(case_id):
    return tuple(int(x) for x in case_id.split("."))


def selected(case_id, spec):
    """wstest's own matching: a pattern with '*' is a regex prefix match, else exact."""
    def match(pats):
        return any(re.match(p.replace(".", r"\.").replace("*", ".*"), case_id) if "*" in p
                   else p == case_id for p in pats)
    return match(spec.get("cases", ["*"])) and not match(spec.get("exclude-cases", []))


def dump_expected(expected):
    """One case per line, in case order, so diffs stay readable."""
    items = sorted(expected.items(), key=lambda kv: case_key(kv[0]))
    return "{\n" + ",\n".join(f" {json.dumps(c)}: {json.dumps(e)}" for c, e in items) + "\n}\n"


def summary(results):
    groups = sorted({c.split(".")[0] for c in results}, key=int)
    counts = {g: Counter() for g in groups}
    for c, r in results.items():
        counts[c.split(".")[0]][r["behavior"]] += 1
    total = sum(counts.values(), Counter())
    cols = BEHAVIORS + sorted(set(total) - set(BEHAVIORS))
    print("group " + "".join(f"{b:>14}" for b in cols) + f"{'total':>8}")
    for name, cnt in [(g, counts[g]) for g in groups] + [("all", total)]:
        print(f"{name:<6}" + "".join(f"{cnt[b]:>14}" for b in cols) + f"{sum(cnt.values()):>8}")
    close = Counter(r["behaviorClose"] for r in results.values())
    print("behaviorClose: " + ", ".join(f"{k} {v}" for k, v in sorted(close.items())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("--agent", help="the report's only agent if it has one, else wsmachine")
    ap.add_argument("--report", type=Path, action="append",
                    help="index.json (default reports/ROLE/index.json); repeat to join runs")
    ap.add_argument("--expected", type=Path, help="default expected-ROLE.json")
    ap.add_argument("--write-expected", action="store_true",
                    help="rewrite the expectations of the report's cases from the report")
    a = ap.parse_args()
    reports = a.report or [HERE / "reports" / a.role / "index.json"]
    expected_path = a.expected or HERE / f"expected-{a.role}.json"

    results, specs, agents = {}, [], set()
    for report in reports:
        index = json.loads(report.read_text())
        agent = a.agent or (next(iter(index)) if len(index) == 1 else "wsmachine")
        if agent not in index:
            sys.exit(f"agent {agent!r} not in {report} (agents: {', '.join(index)})")
        agents.add(agent)
        for c, r in index[agent].items():
            if c in results:
                sys.exit(f"case {c} is in more than one report")
            results[c] = {"behavior": r["behavior"], "behaviorClose": r["behaviorClose"]}
        spec_path = report.parent / "spec.json"
        specs.append(json.loads(spec_path.read_text()) if spec_path.exists() else {"cases": ["*"]})
    expected = json.loads(expected_path.read_text()) if expected_path.exists() else {}

    def chosen(case_id):
        return any(selected(case_id, spec) for spec in specs)

    print(f"Autobahn {a.role} report for {', '.join(sorted(agents))}: {', '.join(map(str, reports))}")
    summary(results)

    if a.write_expected:
        expected = {c: e for c, e in expected.items() if not chosen(c)}
        expected.update(results)
        expected_path.write_text(dump_expected(expected))
        print(f"wrote {len(expected)} expectations to {expected_path}")
        return 0

    bad, better, missing = [], [], []
    for c, e in sorted(expected.items(), key=lambda kv: case_key(kv[0])):
        if not chosen(c):
            continue
        r = results.get(c)
        if r is None:
            missing.append(c)
            continue
        changes = [(k, e[k], r[k]) for k in ("behavior", "behaviorClose") if e[k] != r[k]]
        line = f"{c}: " + ", ".join(f"{k} {old} -> {now}" for k, old, now in changes)
        if r["behavior"] == "FAILED" or any(RANK.get(now, 0) <= RANK.get(old, 0) for _, old, now in changes):
            bad.append(line if changes else f"{c}: FAILED (as expected, still a failure)")
        elif changes:
            better.append(line)
    new = sorted((c for c in results if c not in expected), key=case_key)

    for c in new[:10]:
        print(f"NEW (no expectation) {c}: {results[c]['behavior']} / {results[c]['behaviorClose']}")
    if len(new) > 10:
        print(f"NEW (no expectation): {len(new) - 10} more")
    for line in better:
        print(f"IMPROVED, update expected: {line}")
    for line in bad:
        print(f"REGRESSION: {line}")
    for c in missing:
        print(f"MISSING from report: {c}")
    failed_new = [c for c in new if results[c]["behavior"] == "FAILED"]
    for c in failed_new:
        print(f"REGRESSION: {c}: FAILED")
    if better:
        print(f"*** {len(better)} case(s) improved: update expected: run `{sys.argv[0]} {a.role}"
              f" --write-expected` and commit {expected_path} ***")
    nfail = len(bad) + len(missing) + len(failed_new)
    print(f"autobahn-{a.role}: {len(results) - len(bad) - len(failed_new)} passed, {nfail} failed")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
