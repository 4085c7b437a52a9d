#!/usr/bin/python3
"""The bench/train_step.cpp step in PyTorch 1.13 (Debian's python3-torch and python3-torchvision), same threads.

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
> 1 means contra needs less CPU time; less sensitive to other load than wall time), and the
ratio of peak RSS (contra's / PyTorch's, each process's ru_maxrss: < 1 means contra needs
less memory; issue 15's target is ≤ 0.8). Each side runs in its own fresh subprocess, so
neither inherits the other's heap. --contra-args passes more options to bench_train_step
(for example "--checkpoint-activations blocks"; the PyTorch side never checkpoints).

--profile (PyTorch alone) runs the steps under torch.autograd.profiler and prints the
self CPU time per op over the timed steps, to set beside contra's (README, "Where the step's time goes":
ONEDNN_VERBOSE=1 and perf record of bench_train_step).
"""
import argparse
import re
import resource
import shlex
import statistics
import subprocess
import sys
import time


def build(width):
    import torch.nn as nn
    import torchvision
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
    import torch
    import torch.nn.functional as F
    m = z.shape[0]
    b = m // 2
    zn = F.normalize(z, dim=1)
    s = zn @ zn.t() / tau
    s = s.masked_fill(torch.eye(m, dtype=torch.bool), -1e9)
    pos = torch.cat([torch.arange(b, m), torch.arange(0, b)])
    return F.cross_entropy(s, pos)


def torch_run(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    net, head = build(args.width)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.06, momentum=0.9, weight_decay=5e-4)
    views = torch.randn(2 * args.batch, 3, 32, 32)
    times, cpu, loss_value = [], [], 0.0
    prof = None
    for it in range(args.warmup + args.steps):
        if args.profile and it == args.warmup:
            prof = torch.autograd.profiler.profile()
            prof.__enter__()
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = nt_xent(head(net(views)), 0.5)
        loss.backward()
        opt.step()
        loss_value = loss.item()
        if it >= args.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    if prof is not None:
        prof.__exit__(None, None, None)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))
        print(f"(self CPU time summed over {args.steps} steps; divide by {args.steps} for one step)")
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ips = 2 * args.batch / med
    print(f"torch  train_step: batch {args.batch} threads {args.threads} width {args.width:g} "
          f"images/s {ips:.1f} step_ms {med * 1e3:.1f} cpu_s_per_step {statistics.median(cpu):.2f} "
          f"peak_rss_mb {rss:.0f} loss {loss_value:.4f}", flush=True)
    return ips, statistics.median(cpu), rss


def parse_line(out, who):
    line = [l for l in out.splitlines() if l.startswith(who)][-1]
    print(line, flush=True)
    get = lambda key: float(re.search(key + r" ([0-9.]+)", line).group(1))
    return get("images/s"), get("cpu_s_per_step"), get("peak_rss_mb")


def torch_subprocess(args):
    # A fresh interpreter per round: the peak RSS is this run's alone.
    cmd = [sys.executable, __file__, "--torch-child", "--batch", str(args.batch), "--threads", str(args.threads),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--width", str(args.width), "--seed", str(args.seed)]
    return parse_line(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout, "torch")


def contra_run(args):
    cmd = [args.contra, "--batch", str(args.batch), "--threads", str(args.threads), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--width", str(args.width), "--seed", str(args.seed)] + shlex.split(args.contra_args)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("kernels:") and not contra_run.kernels_printed:
            print(line, flush=True)  # the CPU and kernels the numbers come from
            contra_run.kernels_printed = True
    return parse_line(out, "contra")


contra_run.kernels_printed = False


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
    p.add_argument("--contra-args", default="", help="more options for bench_train_step")
    p.add_argument("--profile", action="store_true", help="per-op self CPU time (torch.autograd.profiler)")
    p.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_child or not args.contra:
        torch_run(args)
        return
    ratios, cpu_ratios, rss_ratios = [], [], []
    for r in range(args.rounds):
        c = contra_run(args)
        t = torch_subprocess(args)
        ratios.append(c[0] / t[0])
        cpu_ratios.append(t[1] / c[1])
        rss_ratios.append(c[2] / t[2])
        print(f"round {r}: contra/torch images/s ratio {ratios[-1]:.3f} (by CPU time {cpu_ratios[-1]:.3f}), "
              f"peak RSS ratio contra/torch {rss_ratios[-1]:.3f}", flush=True)
    print(f"median ratio contra/torch over {len(ratios)} round(s): images/s {statistics.median(ratios):.3f}, "
          f"by CPU time per step {statistics.median(cpu_ratios):.3f}, peak RSS {statistics.median(rss_ratios):.3f}")


if __name__ == "__main__":
    main()
