#!/usr/bin/python3
"""Generate the torchvision parity fixture for the data layer's deterministic transforms.

Run with Debian's python3-torch / python3-torchvision (torch 1.13, torchvision 0.14):
    /usr/bin/python3 scripts/make_augment_fixture.py
Writes tests/data/fixtures/augment_{sources,cases,expected}.npy (< 500 KB), read by
tests/data/test_augment.cpp without Python.

  sources  (K, 3, 32, 32) uint8   smooth random RGB images
  cases    (M, 16) float64        [kind, image, top, left, h, w, interp, flip,
                                   f0, f1, f2, f3, o0, o1, o2, o3]
  expected (M, 3, 32, 32) float32 torchvision's output in [0, 1]

kind 0: F.resized_crop on a PIL image (what SimCLR's CIFAR pipeline runs) to 32x32,
        interp 0 = bilinear, 1 = bicubic, then F.hflip when flip = 1
kind 1: ColorJitter's four adjustments on a float tensor with factors
        (brightness f0, contrast f1, saturation f2, hue f3) applied in order o0..o3
kind 2: F.gaussian_blur on a float tensor, kernel f0, sigma f1
kind 3: F.rgb_to_grayscale(num_output_channels=3) on a float tensor
kind 4: F.solarize on a float tensor, threshold f0
"""
import os

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "fixtures")


def sources(rng, k):
    imgs = []
    for i in range(k):
        coarse = rng.integers(0, 256, size=(3, 6, 6)).astype(np.float64)
        t = torch.from_numpy(coarse)[None]
        smooth = torch.nn.functional.interpolate(t, size=(32, 32), mode="bicubic", align_corners=False)[0]
        noise = rng.normal(0, 12, size=(3, 32, 32))
        imgs.append(np.clip(smooth.numpy() + noise, 0, 255).round().astype(np.uint8))
    imgs[-1][:, :8, :8] = 255  # saturated corner: exercises clamping
    imgs[-1][:, -8:, -8:] = 0
    return np.stack(imgs)


def main():
    rng = np.random.default_rng(20240501)
    src = sources(rng, 4)
    cases, expected = [], []

    def add(row, out_chw):
        r = np.zeros(16)
        r[: len(row)] = row
        cases.append(r)
        expected.append(out_chw.astype(np.float32))

    boxes = [(0, 0, 32, 32), (5, 3, 12, 20), (10, 10, 4, 4), (0, 7, 25, 18), (17, 1, 15, 31), (2, 2, 30, 9)]
    for bi, (top, left, h, w) in enumerate(boxes):
        for interp, mode in ((0, InterpolationMode.BILINEAR), (1, InterpolationMode.BICUBIC)):
            im = bi % len(src)
            flip = (bi + interp) % 2
            pil = Image.fromarray(np.ascontiguousarray(src[im].transpose(1, 2, 0)))
            out = F.resized_crop(pil, top, left, h, w, [32, 32], interpolation=mode)
            if flip:
                out = F.hflip(out)
            arr = np.asarray(out).astype(np.float64).transpose(2, 0, 1) / 255.0
            add([0, im, top, left, h, w, interp, flip], arr)

    def as_float(im):
        return torch.from_numpy(src[im].astype(np.float32) / 255.0)

    for j in range(10):
        im = j % len(src)
        b, c, s = rng.uniform(0.6, 1.4, size=3)
        h = rng.uniform(-0.1, 0.1) if j < 7 else [0.45, -0.3, 0.5][j - 7]
        order = rng.permutation(4)
        t = as_float(im)
        fac = [b, c, s, h]
        for o in order:
            if o == 0:
                t = F.adjust_brightness(t, float(np.float32(fac[0])))
            elif o == 1:
                t = F.adjust_contrast(t, float(np.float32(fac[1])))
            elif o == 2:
                t = F.adjust_saturation(t, float(np.float32(fac[2])))
            else:
                t = F.adjust_hue(t, float(np.float32(fac[3])))
        add([1, im, 0, 0, 0, 0, 0, 0, *[float(np.float32(f)) for f in fac], *order], t.numpy())

    for j, (k, sigma) in enumerate(((3, 0.5), (5, 1.3), (7, 2.0), (3, 0.1))):
        t = F.gaussian_blur(as_float(j % len(src)), [k, k], [sigma, sigma])
        add([2, j % len(src), 0, 0, 0, 0, 0, 0, k, float(np.float32(sigma))], t.numpy())
    for j in range(2):
        add([3, j], F.rgb_to_grayscale(as_float(j), num_output_channels=3).numpy())
    for j, th in enumerate((0.5, 0.25)):
        add([4, j + 1, 0, 0, 0, 0, 0, 0, th], F.solarize(as_float(j + 1), th).numpy())

    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "augment_sources.npy"), src)
    np.save(os.path.join(OUT, "augment_cases.npy"), np.stack(cases).astype(np.float64))
    np.save(os.path.join(OUT, "augment_expected.npy"), np.stack(expected).astype(np.float32))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT) if f.startswith("augment_"))
    print(f"wrote {len(cases)} cases to {OUT} ({total} bytes) with torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}")


if __name__ == "__main__":
    main()
