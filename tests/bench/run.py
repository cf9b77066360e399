"""`make bench`: every ratio benchmark against the testbed, one after the other, then one
markdown report (the machine, the command, a table per benchmark) on stdout, ready to
paste into docs/benchmarks.md. Progress goes to stderr.

    python tests/bench/run.py [--runs N] [--only bluegreen,canary,noop,scale] [--quick]

N (median of N, interleaved) defaults per benchmark to what keeps the whole run to a few
minutes (bluegreen 3, noop 3, canary 1, scale 1); --runs or BENCH_RUNS sets it for all.
--quick: N=1 everywhere and the scale benchmark without its 200-revision case (growing a
Configuration to 200 revisions takes minutes); every goal is still measured.
"""

import argparse
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as bl  # noqa: E402
import bench_bluegreen  # noqa: E402
import bench_canary  # noqa: E402
import bench_noop  # noqa: E402
import bench_scale  # noqa: E402

BENCHES = (("bluegreen", bench_bluegreen, 3), ("canary", bench_canary, 1),
           ("noop", bench_noop, 3), ("scale", bench_scale, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--only", default=",".join(name for name, _m, _n in BENCHES))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    chosen = args.only.split(",")
    info = bl.machine()
    kube = bl.kube_client()
    command = "python tests/bench/run.py " + " ".join(sys.argv[1:])
    report = ["## Run of %s UTC" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
              "", "command: `%s`" % command.strip(), "", bl.machine_line(info)]
    print("\n".join(report), flush=True)  # each table follows as soon as it is measured
    failed = False
    for name, bench, default_runs in BENCHES:
        if name not in chosen:
            continue
        runs = args.runs or (1 if args.quick else bl.runs_default(default_runs))
        bl.say(None, "=== %s (median of %d)" % (name, runs))
        start = time.monotonic()
        options = getattr(bench, "QUICK", {}) if args.quick else {}
        try:
            out = bench.run(kube, runs, **options)
        except Exception as exc:  # the other benchmarks still run
            failed = True
            print("\n### %s: FAILED: %s" % (name, exc), flush=True)
            continue
        print("\n### %s (median of %d; %.0f s)\n\n%s" % (
            out["title"], runs, time.monotonic() - start, out["table"]), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
