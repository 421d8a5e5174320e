"""Issue 12's comparison in one command: ferrex's `bench_rows` and PyTorch's bench scripts
run alternately (ROUNDS interleaved rounds per thread count, so both sides see the same
machine window), then one table of ratios with their spread.

usage: python3 tools/side_by_side.py [--threads 1,2] [--rounds 2] [--no-compile] [rows...]
rows: tut mlp784 mlp1024 lenet transformer residual resblock invres (default: all)
PyTorch's python is $TORCH_PYTHON, else ../.venv-torch/bin/python (from
../shared/tools/setup_torch.sh; never a project dependency). Run from the workspace root.
"""
import argparse
import collections
import os
import subprocess
import sys

TABLE = ["tut", "mlp784", "mlp1024", "lenet"]
EXTRA = ["transformer", "residual", "resblock", "invres"]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def results(text):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            kv = dict(f.split("=", 1) for f in line.split()[1:])
            yield kv["side"], kv["case"], kv["runner"], int(kv["threads"]), float(kv["median_us"])


def run(cmd, env=None):
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return p.stdout


def span(xs, fmt="{:.3g}"):
    lo, hi = min(xs), max(xs)
    a, b = fmt.format(lo), fmt.format(hi)
    return a if a == b else f"{a}–{b}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("rows", nargs="*")
    a = ap.parse_args()
    rows = a.rows or TABLE + EXTRA
    py = os.environ.get("TORCH_PYTHON") or os.path.join(ROOT, "..", ".venv-torch", "bin", "python")
    run(["cargo", "build", "--release", "--quiet", "--example", "bench_rows"])
    bench = os.path.join(ROOT, "target", "release", "examples", "bench_rows")
    torch_tools = os.path.join(ROOT, "..", "shared", "tools", "bench_torch.py")
    compile_flag = [] if a.no_compile else ["--compile"]
    # (side, case, runner, threads) -> per-round medians
    seen = collections.defaultdict(list)
    for r in range(a.rounds):
        for t in [int(x) for x in a.threads.split(",")]:
            print(f"round {r + 1}/{a.rounds}, {t} thread(s)", file=sys.stderr, flush=True)
            env = dict(os.environ, FERREX_NUM_THREADS=str(t))
            outs = [run([bench] + rows, env)]
            table = [x for x in rows if x in TABLE]
            extra = [x for x in rows if x in EXTRA]
            if table:
                outs.append(run([py, torch_tools, str(t)] + compile_flag + table))
            if extra:
                outs.append(run([py, os.path.join(HERE, "bench_torch_rows.py"), str(t)] + compile_flag + extra))
            for out in outs:
                for side, case, runner, threads, us in results(out):
                    seen[(side, case, runner, threads)].append(us)
    cases = sorted({(k[1], k[3]) for k in seen if k[0] == "ferrex"}, key=lambda c: (c[1], c[0]))
    print("| case | threads | ferrex compiled µs | PyTorch best µs | ratio | interp/compiled | ferrex eager / torch eager |")
    print("|---|---|---|---|---|---|---|")
    for case, t in cases:
        comp = seen.get(("ferrex", case, "compiled", t))
        if not comp:
            continue
        interp = seen.get(("ferrex", case, "interpreter", t), [])
        eager = seen.get(("ferrex", case, "eager", t), [])
        torch_runs = [v for k, v in seen.items() if k[0] == "torch" and k[1] == case and k[3] == t]
        best = [min(vals) for vals in zip(*torch_runs)] if torch_runs else []
        teager = seen.get(("torch", case, "eager", t), [])
        ratio = [b / c for b, c in zip(best, comp)]
        ir = [i / c for i, c in zip(interp, comp)]
        er = [te / e for te, e in zip(teager, eager)]
        cell = lambda xs, f="{:.3g}": span(xs, f) if xs else "–"
        print(f"| {case} | {t} | {cell(comp)} | {cell(best)} | {cell(ratio, '{:.2f}')}× | "
              f"{cell(ir, '{:.2f}')}× | {cell(er, '{:.2f}')}× |")


if __name__ == "__main__":
    main()
