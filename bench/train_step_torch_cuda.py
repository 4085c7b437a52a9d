#!/usr/bin/env python3
"""The bench/train_step.cpp step in PyTorch eager on a GPU (issue 11 §3 c).

Same model and step as bench/train_step_torch.py: ResNet-18 (torchvision layout, CIFAR stem:
conv1 3×3/1, no max-pool, fc = Identity) + projection head Linear(512, 512, bias=False) →
BN1d → ReLU → Linear(512, 128), two views of a batch stacked (2B, 3, 32, 32), NT-Xent
(τ = 0.5, self-similarity masked), SGD (lr 0.06, momentum 0.9, weight decay 5e-4); forward +
backward + step in train mode, fp32 eager, cudnn.benchmark on. --tf32 lets matmuls and
convolutions use TF32. images/s counts the 2·batch view images of a step (median step time,
each step ended by torch.cuda.synchronize()).

    python3 bench/train_step_torch_cuda.py --batch 512 --steps 20 --warmup 5 [--tf32]

Prints one line: "torch_cuda train_step: batch B tf32 0|1 images/s X step_ms Y loss Z".
"""
import argparse
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tf32", action="store_true")
    args = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    if not torch.cuda.is_available():
        print("torch_cuda train_step: SKIPPED (torch sees no CUDA device)")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    dev = torch.device("cuda")

    net = torchvision.models.resnet18()
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    head = nn.Sequential(nn.Linear(512, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))
    net, head = net.to(dev).train(), head.to(dev).train()
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.06, momentum=0.9, weight_decay=5e-4)

    m = 2 * args.batch
    views = torch.randn(m, 3, 32, 32, device=dev)
    eye = torch.eye(m, dtype=torch.bool, device=dev)
    pos = torch.cat([torch.arange(args.batch, m), torch.arange(0, args.batch)]).to(dev)

    def step():
        opt.zero_grad(set_to_none=True)
        z = F.normalize(head(net(views)), dim=1)
        s = (z @ z.t() / 0.5).masked_fill(eye, -1e9)
        loss = F.cross_entropy(s, pos)
        loss.backward()
        opt.step()
        return loss

    times = []
    loss = None
    for it in range(args.warmup + args.steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        if it >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"torch_cuda train_step: batch {args.batch} tf32 {int(args.tf32)} images/s {m / med:.1f} "
          f"step_ms {med * 1e3:.2f} loss {loss.item():.4f} gpu {torch.cuda.get_device_name(0)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
