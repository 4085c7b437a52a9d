#!/usr/bin/python3
"""Golden fixture for tests/nn/test_resnet_golden.cpp: a width-reduced ResNet-18 with the
CIFAR stem, run in PyTorch 1.13 (Debian's python3-torch; the tests never need Python).

    /usr/bin/python3 scripts/make_resnet_fixture.py

Model: torchvision's BasicBlock / Bottleneck and ResNet layout with base width 8 instead of
64 (width multiplier 1/8: planes 8, 16, 32, 64; features D = 64), CIFAR stem
(conv1 3×3/1 pad 1, no max-pool), 3 input channels, fc = Identity (SSL backbone). Key names
are torchvision's (checked below against torchvision.models.resnet18 at full width).
BatchNorm γ, β and running statistics are randomised so eval mode is a real test.

Writes tests/nn/fixtures/resnet18_cifar_w8/:
  weights.safetensors   the state_dict, written as a plain safetensors file (what
                        safetensors.torch.save_file produces: metadata {"format": "pt"},
                        no checksums), by the small writer below (the Python safetensors
                        package is not in Debian 12)
  x.npy                 input (4, 3, 32, 32) float32
  r.npy                 loss weights R (4, 64): loss = Σ features ⊙ R
  {eval,train}_features.npy, {eval,train}_dx.npy, {eval,train}_d_<param>.npy  (float32)
  train_running_mean_<bn>.npy, train_running_var_<bn>.npy after one training forward
and tests/nn/fixtures/torchvision_keys_{resnet18,resnet50}.txt: "name shape" per line from
torchvision.models.resnetXX() (ImageNet stem, 1000 classes), in state_dict order.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "nn", "fixtures")
OUT = os.path.join(ROOT, "resnet18_cifar_w8")
os.makedirs(OUT, exist_ok=True)


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet.__init__/forward with a base width and a CIFAR stem."""

    def __init__(self, block, layers, base=64, cifar=True, in_channels=3, num_classes=0):
        super().__init__()
        self.inplanes = base
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # torchvision's width_per_group: keeps Bottleneck width = planes
        self._norm_layer = nn.BatchNorm2d
        if cifar:
            self.conv1 = nn.Conv2d(in_channels, base, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, base, layers[0])
        self.layer2 = self._make_layer(block, base * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, base * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, base * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(base * 8 * block.expansion, num_classes) if num_classes else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    _make_layer = torchvision.models.resnet.ResNet._make_layer

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def write_safetensors(path, tensors):
    """Plain safetensors writer: 8-byte LE header length, JSON header, raw little-endian data."""
    dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def save(name, t):
    np.save(os.path.join(OUT, name + ".npy"), t.detach().numpy().astype(np.float32))


# ---- torchvision key lists, and a check that this builder reproduces torchvision's names --
for arch, block, layers in (("resnet18", BasicBlock, [2, 2, 2, 2]), ("resnet50", Bottleneck, [3, 4, 6, 3])):
    ref = getattr(torchvision.models, arch)().state_dict()
    with open(os.path.join(ROOT, f"torchvision_keys_{arch}.txt"), "w") as f:
        for k, v in ref.items():
            f.write(f"{k} {'x'.join(str(s) for s in v.shape) or 'scalar'}\n")
    mine = ResNet(block, layers, 64, cifar=False, num_classes=1000).state_dict()
    assert [(k, tuple(v.shape)) for k, v in mine.items()] == [(k, tuple(v.shape)) for k, v in ref.items()], arch

# ---- the golden model ----------------------------------------------------------------------
torch.manual_seed(0)
model = ResNet(BasicBlock, [2, 2, 2, 2], base=8, cifar=True, in_channels=3, num_classes=0)
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.1)
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(3)
write_safetensors(os.path.join(OUT, "weights.safetensors"), model.state_dict())

x = torch.randn(4, 3, 32, 32)
r = torch.randn(4, 64)
save("x", x)
save("r", r)
PARAMS = ["conv1.weight", "bn1.weight", "layer1.0.bn1.weight", "layer2.0.downsample.0.weight",
          "layer3.1.conv1.weight", "layer4.1.bn2.bias"]
BNS = ["bn1", "layer2.0.downsample.1", "layer4.1.bn2"]
named = dict(model.named_parameters())
modules = dict(model.named_modules())
for mode in ("eval", "train"):  # eval first: the training forward updates the running stats
    model.train(mode == "train")
    model.zero_grad()
    xi = x.clone().requires_grad_()
    feats = model(xi)
    (feats * r).sum().backward()
    save(f"{mode}_features", feats)
    save(f"{mode}_dx", xi.grad)
    for p in PARAMS:
        save(f"{mode}_d_{p}", named[p].grad)
for bn in BNS:
    save(f"train_running_mean_{bn}", modules[bn].running_mean)
    save(f"train_running_var_{bn}", modules[bn].running_var)
with open(os.path.join(OUT, "params.txt"), "w") as f:
    f.write("\n".join(PARAMS) + "\n")
with open(os.path.join(OUT, "bns.txt"), "w") as f:
    f.write("\n".join(BNS) + "\n")
print("wrote", OUT)
