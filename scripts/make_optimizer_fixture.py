#!/usr/bin/python3
"""Optimizer golden values for tests/nn (SGD, SGD+Nesterov, AdamW from PyTorch 1.13;
LARS from a line-by-line port of SimCLR's lars_optimizer.py).

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_optimizer_fixture.py
Writes tests/nn/fixtures/optimizer_golden.npy-style files (float64, small). The tests read
them without Python.

Setup (shared by every case): two parameters, p0 (3, 4) and p1 (4,), float64, drawn from
torch.manual_seed(0); three steps; at step t the gradient of p_i is g_i,t (fixed tensors
drawn up front) so the trajectory depends only on the optimizer. p1 plays the "bias"
(rank-1) role for LARS's exclusion.
"""
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "nn", "fixtures", "optimizer")
os.makedirs(OUT, exist_ok=True)

torch.manual_seed(0)
p0 = torch.randn(3, 4, dtype=torch.float64)
p1 = torch.randn(4, dtype=torch.float64)
grads = [(torch.randn(3, 4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)) for _ in range(3)]
lrs = [0.1, 0.05, 0.02]  # learning rate changes between steps (as a schedule would)


def save(name, arr):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(arr, dtype=np.float64))


save("p0", p0.numpy())
save("p1", p1.numpy())
for t, (g0, g1) in enumerate(grads):
    save(f"g0_{t}", g0.numpy())
    save(f"g1_{t}", g1.numpy())
save("lrs", np.array(lrs))


def run_torch(make):
    a, b = p0.clone().requires_grad_(), p1.clone().requires_grad_()
    opt = make([a, b])
    for t, (g0, g1) in enumerate(grads):
        for group in opt.param_groups:
            group["lr"] = lrs[t]
        a.grad, b.grad = g0.clone(), g1.clone()
        opt.step()
    return a.detach().numpy(), b.detach().numpy()


cases = {
    "sgd_plain": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "sgd_momentum_wd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4),
    "sgd_nesterov_wd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "sgd_dampening": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    "adamw_betas": lambda ps: torch.optim.AdamW(ps, lr=0.1, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.0),
}
for name, make in cases.items():
    a, b = run_torch(make)
    save(f"{name}_p0", a)
    save(f"{name}_p1", b)


def run_lars(momentum, eeta, wd, nesterov):
    """SimCLR lars_optimizer.py (classic momentum), p1 excluded from wd and adaptation."""
    params = [p0.clone().numpy(), p1.clone().numpy()]
    bufs = [np.zeros_like(params[0]), np.zeros_like(params[1])]
    excluded = [False, True]
    for t, gs in enumerate(grads):
        for i in range(2):
            param, grad = params[i], gs[i].numpy().copy()
            if not excluded[i]:
                grad = grad + wd * param
            trust_ratio = 1.0
            if not excluded[i]:
                w_norm, g_norm = np.linalg.norm(param), np.linalg.norm(grad)
                trust_ratio = eeta * w_norm / g_norm if (w_norm > 0 and g_norm > 0) else 1.0
            scaled_lr = lrs[t] * trust_ratio
            next_v = momentum * bufs[i] + scaled_lr * grad
            update = momentum * next_v + scaled_lr * grad if nesterov else next_v
            params[i] = param - update
            bufs[i] = next_v
    return params


for name, args in {"lars": (0.9, 0.001, 1e-4, False), "lars_nesterov": (0.9, 0.01, 1e-2, True)}.items():
    a, b = run_lars(*args)
    save(f"{name}_p0", a)
    save(f"{name}_p1", b)
print("wrote", OUT)
