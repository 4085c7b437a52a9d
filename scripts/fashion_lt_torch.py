#!/usr/bin/python3
"""The default contra job (preset fashion_mnist_lt_small) in PyTorch 1.13, for comparison.

Fashion-MNIST-LT ratio 100 (LDAM: first n_i of a seeded shuffle, n_max 6000), ResNet-18 at
width 1/8 with a CIFAR stem and 1 input channel, projection head 64→64→128 with BN, random
resized crop (scale 0.2–1) + flip, two views, NT-Xent τ = 0.5, SGD lr 0.06 momentum 0.9
wd 5e-4, batch 256, cosine per step. Reports kNN (k=200, T=0.1, balanced 60k bank) of the
backbone features at initialisation and after training.

Needs Debian's python3-torch and python3-torchvision (never needed by the build or tests).
    /usr/bin/python3 scripts/fashion_lt_torch.py --epochs 8 --threads 2
"""
import argparse, gzip, math, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
import torchvision.transforms as T

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=8)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

def idx(path):
    with gzip.open(path) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)

xtr, ytr = idx(f"{a.root}/train-images-idx3-ubyte.gz"), idx(f"{a.root}/train-labels-idx1-ubyte.gz")
xte, yte = idx(f"{a.root}/t10k-images-idx3-ubyte.gz"), idx(f"{a.root}/t10k-labels-idx1-ubyte.gz")
rng = np.random.default_rng(a.seed)
counts = [int(6000 * 100 ** (-i / 9)) for i in range(10)]
keep = np.concatenate([rng.permutation(np.where(ytr == c)[0])[:n] for c, n in enumerate(counts)])
xlt = xtr[keep]
print("LT images", len(keep), counts)
mean, std = 0.2860, 0.3530

class Block(nn.Module):
    def __init__(s, i, o, st):
        super().__init__()
        s.c1 = nn.Conv2d(i, o, 3, st, 1, bias=False); s.b1 = nn.BatchNorm2d(o)
        s.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(o)
        s.sc = nn.Sequential() if st == 1 and i == o else nn.Sequential(nn.Conv2d(i, o, 1, st, bias=False), nn.BatchNorm2d(o))
    def forward(s, x):
        return F.relu(s.b2(s.c2(F.relu(s.b1(s.c1(x))))) + s.sc(x))

class ResNet18(nn.Module):
    def __init__(s, w=8):
        super().__init__()
        s.stem = nn.Sequential(nn.Conv2d(1, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        layers, i = [], w
        for o, st in [(w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)]:
            layers += [Block(i, o, st), Block(o, o, 1)]; i = o
        s.layers = nn.Sequential(*layers)
        for m in s.modules():
            if isinstance(m, nn.Conv2d): nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    def forward(s, x):
        return F.adaptive_avg_pool2d(s.layers(s.stem(x)), 1).flatten(1)

net = ResNet18()
head = nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 128))
aug = T.Compose([T.RandomResizedCrop(28, scale=(0.2, 1.0)), T.RandomHorizontalFlip()])

def features(model, x):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            t = (torch.from_numpy(x[i:i + 1000]).float()[:, None] / 255 - mean) / std
            out.append(model(t))
    model.train()
    return F.normalize(torch.cat(out), dim=1)

def knn(model):
    bank, q = features(model, xtr), features(model, xte)
    labels = torch.from_numpy(ytr.astype(np.int64))
    correct = 0
    for i in range(0, len(q), 500):
        s = q[i:i + 500] @ bank.T
        v, j = s.topk(200, dim=1)
        votes = torch.zeros(len(s), 10).scatter_add_(1, labels[j], (v / 0.1).exp())
        correct += (votes.argmax(1) == torch.from_numpy(yte[i:i + 500].astype(np.int64))).sum().item()
    return correct / len(q)

print("random init kNN %.4f" % knn(net))
params = list(net.parameters()) + list(head.parameters())
opt = torch.optim.SGD(params, lr=0.06, momentum=0.9, weight_decay=5e-4)
steps_per_epoch = len(keep) // 256
total = a.epochs * steps_per_epoch
step = 0
t0 = time.time()
for epoch in range(a.epochs):
    perm = rng.permutation(len(keep))
    for b in range(steps_per_epoch):
        imgs = torch.from_numpy(xlt[perm[b * 256:(b + 1) * 256]]).float()[:, None] / 255
        v1 = torch.stack([aug(im) for im in imgs]); v2 = torch.stack([aug(im) for im in imgs])
        x = (torch.cat([v1, v2]) - mean) / std
        for g in opt.param_groups: g["lr"] = 0.06 * 0.5 * (1 + math.cos(math.pi * step / total))
        z = F.normalize(head(net(x)), dim=1)
        s = z @ z.T / 0.5
        s.fill_diagonal_(-1e9)
        n = len(imgs)
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
        loss = F.cross_entropy(s, target)
        opt.zero_grad(); loss.backward(); opt.step(); step += 1
    print("epoch %d loss %.4f  %.0f img/s" % (epoch, loss.item(), step * 256 / (time.time() - t0)), flush=True)
print("trained kNN %.4f" % knn(net))
