#!/usr/bin/python3
"""PyTorch side of bench_contrastive_loss: the same balanced loss (docs/derivation.md §6, defaults:
w_a = w_r = w_p = 1, i.e. NT-Xent) forward + backward in float32, M = 512, 1024, 4096,
D = 128, V = 2, τ = 0.2, median over repetitions. Run with the same thread count as the C++
bench:  /usr/bin/python3 bench/contrastive_loss_torch.py --threads 2
"""
import argparse
import time

import torch
import torch.nn.functional as F


def balanced(f, n, views, tau, wa=1.0, wr=1.0, wp=1.0):
    z = F.normalize(f, dim=1)
    m = z.shape[0]
    lam = z @ z.T / tau
    img = torch.arange(m) % n
    same = img.view(-1, 1) == img.view(1, -1)
    eye = torch.eye(m, dtype=torch.bool)
    pos = same & ~eye
    logw = torch.zeros_like(lam).masked_fill(pos, torch.log(torch.tensor(wp))).masked_fill(eye, float("-inf"))
    attract = -wa * (lam * pos).sum(1) / (views - 1)
    log_d = torch.logsumexp(lam + logw, dim=1)
    return (attract + wr * log_d).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--sizes", default="512,1024,4096")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"contrastive_loss_torch: torch {torch.__version__}, {a.threads} threads, D={a.dim}, V={a.views}, f32")
    print(f"{'M':>6} {'torch ms':>10}")
    for m in [int(s) for s in a.sizes.split(",")]:
        g = torch.Generator().manual_seed(m)
        f0 = torch.randn(m, a.dim, generator=g)
        n = m // a.views
        times = []
        for r in range(a.reps + 1):
            f = f0.clone().requires_grad_(True)
            t0 = time.perf_counter()
            loss = balanced(f, n, a.views, 0.2)
            loss.backward()
            if r > 0:
                times.append(time.perf_counter() - t0)
        times.sort()
        print(f"{m:>6} {1e3 * times[len(times) // 2]:>10.3f}")


if __name__ == "__main__":
    main()
