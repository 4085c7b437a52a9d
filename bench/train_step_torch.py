#!/usr/bin/python3
"""The bench/train_step.cpp step in PyTorch 1.13 (Debian's python3-torch), same threads.

ResNet-18 (torchvision layout, CIFAR stem: conv1 3×3/1, no max-pool, fc = Identity) +
projection head Linear(512, 512, bias=False) → BN1d → ReLU → Linear(512, 128), two views
of a batch stacked (2B, 3, 32, 32), NT-Xent (τ = 0.5, self-similarity masked), SGD
(lr 0.06, momentum 0.9, weight decay 5e-4); forward + backward + step, train mode.
images/s counts the 2·batch view images of a step (median step time).

    /usr/bin/python3 bench/train_step_torch.py --batch 128 --threads 2 --steps 5 \
        [--contra build/bench/bench_train_step] [--rounds 2]

With --contra, runs alternate contra, PyTorch, contra, PyTorch, ... (the machine is shared,
so single timings drift) and the ratio contra/PyTorch of images/s is printed per round and
as the median, with the ratio of process CPU time per step beside it (PyTorch's / contra's:
> 1 means contra needs less CPU time; less sensitive to other load than wall time).
"""
import argparse
import re
import resource
import statistics
import subprocess
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def build(width):
    base = int(round(64 * width))
    assert base == 64, "the PyTorch side uses torchvision's resnet18 at full width"
    net = torchvision.models.resnet18()
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    head = nn.Sequential(nn.Linear(512, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))
    return net, head


def nt_xent(z, tau):
    m = z.shape[0]
    b = m // 2
    zn = F.normalize(z, dim=1)
    s = zn @ zn.t() / tau
    s = s.masked_fill(torch.eye(m, dtype=torch.bool), -1e9)
    pos = torch.cat([torch.arange(b, m), torch.arange(0, b)])
    return F.cross_entropy(s, pos)


def torch_run(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    net, head = build(args.width)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.06, momentum=0.9, weight_decay=5e-4)
    views = torch.randn(2 * args.batch, 3, 32, 32)
    times, cpu, loss_value = [], [], 0.0
    for it in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = nt_xent(head(net(views)), 0.5)
        loss.backward()
        opt.step()
        loss_value = loss.item()
        if it >= args.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ips = 2 * args.batch / med
    print(f"torch  train_step: batch {args.batch} threads {args.threads} width {args.width:g} "
          f"images/s {ips:.1f} step_ms {med * 1e3:.1f} cpu_s_per_step {statistics.median(cpu):.2f} "
          f"peak_rss_mb {rss:.0f} loss {loss_value:.4f}", flush=True)
    return ips, statistics.median(cpu)


def contra_run(args):
    cmd = [args.contra, "--batch", str(args.batch), "--threads", str(args.threads), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--width", str(args.width), "--seed", str(args.seed)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    print(out, flush=True)
    return float(re.search(r"images/s ([0-9.]+)", out).group(1)), float(re.search(r"cpu_s_per_step ([0-9.]+)", out).group(1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--contra", help="path of bench_train_step; alternate runs and print the ratio")
    args = p.parse_args()
    ratios, cpu_ratios = [], []
    for r in range(args.rounds):
        c = contra_run(args) if args.contra else None
        t = torch_run(args)
        if c is not None:
            ratios.append(c[0] / t[0])
            cpu_ratios.append(t[1] / c[1])
            print(f"round {r}: contra/torch images/s ratio {ratios[-1]:.3f} (by CPU time {cpu_ratios[-1]:.3f})",
                  flush=True)
    if ratios:
        print(f"median ratio contra/torch over {len(ratios)} round(s): images/s {statistics.median(ratios):.3f}, "
              f"by CPU time per step {statistics.median(cpu_ratios):.3f}")


if __name__ == "__main__":
    main()
