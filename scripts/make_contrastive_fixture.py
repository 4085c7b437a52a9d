#!/usr/bin/python3
"""Regenerates tests/contrastive/fixtures/: PyTorch values and gradients of NT-Xent (SimCLR)
and SupCon L_out (SupContrast's losses.py, contrast_mode='all'), plus the balanced loss of
docs/derivation.md §6 written independently in PyTorch, on small seeded float64 batches.

Needs Debian's python3-torch (1.13) and python3-numpy; the tests read the .npy files and do
not need Python. Run from the repository root:  /usr/bin/python3 scripts/make_contrastive_fixture.py

Layout: every embedding matrix is (M, D) view-major, row r = image r mod N, view r div N —
the same as SupContrast's torch.cat(torch.unbind(features, dim=1), dim=0).
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "contrastive", "fixtures")


def nt_xent(f, n, tau):
    """SimCLR NT-Xent: mean over the 2N anchors of −log softmax over k ≠ i at the positive."""
    z = F.normalize(f, dim=1)
    m = z.shape[0]
    sim = z @ z.T / tau
    sim = sim.masked_fill(torch.eye(m, dtype=torch.bool), float("-inf"))
    target = (torch.arange(m) + n) % m
    return F.cross_entropy(sim, target)


def supcon(f, labels, views, tau, base_tau=None):
    """SupContrast losses.py SupConLoss.forward, contrast_mode='all' (L_out)."""
    base_tau = tau if base_tau is None else base_tau
    n = labels.shape[0]
    z = F.normalize(f, dim=1)
    features = z.view(views, n, -1).transpose(0, 1)  # [bsz, n_views, dim]
    batch_size = features.shape[0]
    labels = labels.contiguous().view(-1, 1)
    mask = torch.eq(labels, labels.T).to(f.dtype)
    contrast_count = features.shape[1]
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_feature, anchor_count = contrast_feature, contrast_count
    anchor_dot_contrast = torch.div(torch.matmul(anchor_feature, contrast_feature.T), tau)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(anchor_count, contrast_count)
    logits_mask = torch.scatter(torch.ones_like(mask), 1, torch.arange(batch_size * anchor_count).view(-1, 1), 0)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    loss = -(tau / base_tau) * mean_log_prob_pos
    return loss.view(anchor_count, batch_size).mean()


def balanced(f, n, views, tau, wa, wr, wp, omega, alpha):
    """docs/derivation.md §6, written directly from the formula (dense masks, no shared code)."""
    z = F.normalize(f, dim=1)
    m = z.shape[0]
    lam = z @ z.T / tau
    img = torch.arange(m) % n
    same = img.view(-1, 1) == img.view(1, -1)
    eye = torch.eye(m, dtype=torch.bool)
    pos = same & ~eye
    w = torch.where(pos, torch.full_like(lam, wp), omega)
    w = w.masked_fill(eye, 0.0)
    attract = -wa * (lam * pos).sum(1) / (views - 1)
    log_d = torch.logsumexp(lam + torch.log(w), dim=1)
    ell = attract + wr * log_d
    return (alpha * ell).sum() / alpha.sum()


def save(name, t):
    np.save(os.path.join(OUT, name + ".npy"), t.detach().numpy() if torch.is_tensor(t) else t)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20251012)
    torch.set_default_dtype(torch.float64)

    # NT-Xent: N = 6 images, V = 2, D = 8, τ = 0.5
    n, v, d, tau = 6, 2, 8, 0.5
    f = torch.tensor(rng.standard_normal((n * v, d)), requires_grad=True)
    loss = nt_xent(f, n, tau)
    loss.backward()
    save("nt_xent_f", f)
    save("nt_xent_loss", loss.reshape(1))
    save("nt_xent_grad", f.grad)
    save("nt_xent_params", np.array([n, v, tau]))

    # SupCon L_out: N = 6, V = 2 and V = 3, 3 classes, τ = 0.1
    for v in (2, 3):
        n, d, tau = 6, 8, 0.1
        labels = torch.tensor([0, 1, 2, 0, 1, 1], dtype=torch.int64)
        f = torch.tensor(rng.standard_normal((n * v, d)), requires_grad=True)
        loss = supcon(f, labels, v, tau)
        loss.backward()
        save(f"supcon_v{v}_f", f)
        save(f"supcon_v{v}_labels", labels.numpy())
        save(f"supcon_v{v}_loss", loss.reshape(1))
        save(f"supcon_v{v}_grad", f.grad)
        save(f"supcon_v{v}_params", np.array([n, v, tau]))

    # Balanced loss, V = 3, with ω (M, M) and α (M,)
    n, v, d, tau, wa, wr, wp = 5, 3, 8, 0.3, 0.7, 1.4, 0.5
    m = n * v
    f = torch.tensor(rng.standard_normal((m, d)), requires_grad=True)
    omega = torch.tensor(rng.uniform(0.2, 1.5, (m, m)))
    alpha = torch.tensor(rng.uniform(0.3, 1.0, (m,)))
    loss = balanced(f, n, v, tau, wa, wr, wp, omega, alpha)
    loss.backward()
    save("balanced_f", f)
    save("balanced_omega", omega)
    save("balanced_alpha", alpha)
    save("balanced_loss", loss.reshape(1))
    save("balanced_grad", f.grad)
    save("balanced_params", np.array([n, v, tau, wa, wr, wp]))
    print("wrote", OUT, "torch", torch.__version__)


if __name__ == "__main__":
    main()
