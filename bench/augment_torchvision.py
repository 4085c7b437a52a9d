#!/usr/bin/python3
"""torchvision side of bench/augment_throughput: two-view SimCLR CIFAR augmentation +
collation throughput (images/s), the way SimCLR-style PyTorch code runs it.

    /usr/bin/python3 bench/augment_torchvision.py --threads 2 --images 4096

PIL images (as torchvision.datasets.CIFAR10 yields them) -> Compose([RandomResizedCrop(32,
bicubic), RandomHorizontalFlip(), RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
RandomGrayscale(0.2), ToTensor(), Normalize(CIFAR mean, std)]) twice per image; a
DataLoader with batch 256 collates and the two views are concatenated view-major
(2N, 3, 32, 32), as our loader does. --threads 1 runs in the main process
(num_workers=0, torch threads 1); --threads T > 1 uses T persistent worker processes.
One warm-up pass, then one timed pass; prints one JSON line.
"""
import argparse
import json
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class TwoViews(Dataset):
    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        return self.transform(img), self.transform(img), i % 10


def collate(batch):
    v1 = torch.stack([b[0] for b in batch])
    v2 = torch.stack([b[1] for b in batch])
    return torch.cat([v1, v2]), torch.tensor([b[2] for b in batch])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    arrays = rng.integers(0, 256, size=(args.images, 32, 32, 3), dtype=np.uint8)
    images = [Image.fromarray(a) for a in arrays]
    transform = T.Compose([
        T.RandomResizedCrop(32, interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize(MEAN, STD),
    ])
    workers = 0 if args.threads <= 1 else args.threads
    loader = DataLoader(TwoViews(images, transform), batch_size=args.batch, shuffle=True,
                        drop_last=True, num_workers=workers, collate_fn=collate,
                        persistent_workers=workers > 0)
    for _ in loader:  # warm-up (starts the workers)
        pass
    n = 0
    t0 = time.perf_counter()
    for x, _ in loader:
        n += x.shape[0] // 2
    dt = time.perf_counter() - t0
    print(json.dumps({"threads": args.threads, "images": n, "seconds": dt,
                      "images_per_s": n / dt, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
