#!/usr/bin/env python3
"""bench/omp_wait_policy.py — the train step under libgomp's barrier wait settings (issue 15).

libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, at start-up (before main), so each
setting is a fresh process with the variable in its environment. Per round, in this order:
contra with the variables unset (libgomp's default: spin a while, then sleep), contra with
OMP_WAIT_POLICY=passive (sleep at once), contra with GOMP_SPINCOUNT=<spin> (a middle value),
PyTorch 1.13 (bench/train_step_torch.py --torch-child) unset, PyTorch passive. Prints every
run, then the medians over rounds of the pairwise ratios of images/s taken within a round
(> 1: the numerator is faster):
  contra passive / contra default, contra spin / contra default, torch passive / torch default,
  contra passive / torch default, contra passive / torch passive, contra default / torch default.

  /usr/bin/python3 bench/omp_wait_policy.py [--contra build/bench/bench_train_step] [--rounds 3]
      [--batch 128] [--threads 2] [--steps 2] [--warmup 1] [--spin 10000]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env_extra, who):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_extra)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    line = [l for l in out.splitlines() if l.startswith(who)][-1]
    get = lambda key: float(re.search(key + r" ([0-9.]+)", line).group(1))
    return out, line, get("images/s"), get("cpu_s_per_step")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--contra", default="build/bench/bench_train_step")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--spin", default="10000", help="GOMP_SPINCOUNT of the third contra setting")
    a = p.parse_args()
    common = ["--batch", str(a.batch), "--threads", str(a.threads), "--steps", str(a.steps), "--warmup", str(a.warmup)]
    contra = [a.contra] + common
    torch = [sys.executable, os.path.join(HERE, "train_step_torch.py"), "--torch-child"] + common
    settings = [
        ("contra default", contra, {}, "contra"),
        ("contra passive", contra, {"OMP_WAIT_POLICY": "passive"}, "contra"),
        (f"contra spin{a.spin}", contra, {"GOMP_SPINCOUNT": a.spin}, "contra"),
        ("torch default", torch, {}, "torch"),
        ("torch passive", torch, {"OMP_WAIT_POLICY": "passive"}, "torch"),
    ]
    model = [l for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
             if l.startswith("Model name")]
    print(model[0] if model else "lscpu: no model name", flush=True)
    ips = {name: [] for name, *_ in settings}
    for r in range(a.rounds):
        for name, cmd, env_extra, who in settings:
            out, line, x, _ = run(cmd, env_extra, who)
            if r == 0:
                for l in out.splitlines():
                    if l.startswith("kernels:") or l.startswith("omp env:"):
                        print(l, flush=True)
            with open("/proc/loadavg") as f:
                load = " ".join(f.read().split()[:3])
            print(f"round {r} {name:16s} load {load}: {line}", flush=True)
            ips[name].append(x)
    spin = f"contra spin{a.spin}"
    pairs = [("contra passive", "contra default"), (spin, "contra default"), ("torch passive", "torch default"),
             ("contra passive", "torch default"), ("contra passive", "torch passive"),
             ("contra default", "torch default"), (spin, "torch default")]
    print(f"images/s per setting: " + "; ".join(f"{n} {' '.join(f'{v:.1f}' for v in ips[n])}" for n in ips))
    for num, den in pairs:
        rs = [x / y for x, y in zip(ips[num], ips[den])]
        print(f"{num} / {den}: median {statistics.median(rs):.3f} (rounds: {' '.join(f'{v:.3f}' for v in rs)})",
              flush=True)


if __name__ == "__main__":
    main()
