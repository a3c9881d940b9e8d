#!/usr/bin/env python3
"""Training speed of nin-cifar10 in PyTorch, the same step that `go test -bench Train ./nin/` times.

The network is nin.LoadSpec("nin-cifar10") layer for layer: conv 5x5 192 pad 2, cccp 160,
cccp 96, max pool 3/2 (ceil mode), dropout 0.5, conv 5x5 192 pad 2, cccp 192, cccp 192,
average pool 3/2 (ceil mode, divided by the in-bounds cells as Caffe and nin/ do), dropout
0.5, conv 3x3 192 pad 1, cccp 192, cccp 10, global average pool; ReLU after every conv. With
--bn on each conv loses its bias and is followed by BatchNorm2d (momentum 0.1), as nintrain --bn.

A timed step is what nin's Trainer.step does: forward in training mode (dropout, batch
statistics), mean softmax cross-entropy, backward (no gradient for the input images), SGD
with momentum 0.9 and weight decay 5e-4 on conv weights only, the authors' rate multipliers
(bias 2, last layer 0.1). Batch 128 of fixed random 32x32x3 images, float32; the data are not reloaded.

Prints images/s (median and mean of the timed steps) and the GEMM-equivalent GFLOP/s that the
Go benchmark reports: 3 x 2 x 222,486,528 flop per image.

    /usr/bin/python3 scripts/bench/pytorch_nin_train.py --threads 1 2 --formats cf cl --bn off on

Needs Debian's python3-torch (1.13.1); it is only a measurement aid, not part of CI.
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MACS_PER_IMAGE = 222_486_528  # nin/spec_test.go, ninquant inspect


def build(bn):
    layers = []
    shape = [3, 32, 32]
    macs = 0
    conv_idx = []

    def conv(cin, cout, k, pad):
        nonlocal macs
        layers.append(nn.Conv2d(cin, cout, k, padding=pad, bias=not bn))
        conv_idx.append(len(layers) - 1)
        shape[0] = cout
        shape[1] = shape[1] + 2 * pad - k + 1
        shape[2] = shape[2] + 2 * pad - k + 1
        macs += shape[1] * shape[2] * k * k * cin * cout
        if bn:
            layers.append(nn.BatchNorm2d(cout, momentum=0.1))
        layers.append(nn.ReLU(inplace=True))

    def pool(kind):
        layers.append((nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(3, 2, ceil_mode=True))
        shape[1] = -(-(shape[1] - 3) // 2) + 1
        shape[2] = -(-(shape[2] - 3) // 2) + 1

    conv(3, 192, 5, 2); conv(192, 160, 1, 0); conv(160, 96, 1, 0)
    pool("max"); layers.append(nn.Dropout(0.5))
    conv(96, 192, 5, 2); conv(192, 192, 1, 0); conv(192, 192, 1, 0)
    pool("avg"); layers.append(nn.Dropout(0.5))
    conv(192, 192, 3, 1); conv(192, 192, 1, 0); conv(192, 10, 1, 0)
    layers.append(nn.AdaptiveAvgPool2d(1))
    layers.append(nn.Flatten())
    assert macs == MACS_PER_IMAGE, macs
    assert shape == [10, 8, 8], shape  # 32 -> 16 (max 3/2 ceil) -> 8 (avg 3/2 ceil)
    model = nn.Sequential(*layers)
    for i in conv_idx:  # He initialisation, as Model.InitHe
        nn.init.kaiming_normal_(model[i].weight, nonlinearity="relu")
        if model[i].bias is not None:
            nn.init.zeros_(model[i].bias)
    last = model[conv_idx[-1]]
    return model, last


def optimizer(model, last, lr=0.05):
    groups = {"w": [], "b": [], "bn": [], "last_w": [], "last_b": []}
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            groups["last_w" if m is last else "w"].append(m.weight)
            if m.bias is not None:
                groups["last_b" if m is last else "b"].append(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            groups["bn"] += [m.weight, m.bias]
    spec = [("w", 1, 5e-4), ("b", 2, 0), ("bn", 1, 0), ("last_w", 0.1, 5e-4), ("last_b", 0.1, 0)]
    pg = [{"params": groups[k], "lr": lr * mult, "weight_decay": wd} for k, mult, wd in spec if groups[k]]
    return torch.optim.SGD(pg, lr=lr, momentum=0.9)


def bench(threads, fmt, bn, batch, warmup, steps):
    torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    torch.manual_seed(1)
    model, last = build(bn)
    model.train()
    mf = torch.channels_last if fmt == "cl" else torch.contiguous_format
    model = model.to(memory_format=mf)
    opt = optimizer(model, last)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=mf)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    times = []
    cpu0 = time.process_time()
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    med = statistics.median(times)
    mean = sum(times) / len(times)
    ips = batch / med
    gflops = ips * 3 * 2 * MACS_PER_IMAGE / 1e9
    name = "channels_last" if fmt == "cl" else "channels_first"
    print(f"pytorch {torch.__version__} nin-cifar10 bn={'on' if bn else 'off'} {name} threads={threads}: "
          f"{ips:.1f} images/s median ({batch / mean:.1f} mean, {len(times)} steps, "
          f"min {batch / max(times):.1f} max {batch / min(times):.1f}, {batch * steps / cpu:.1f} images/cpu-s), "
          f"{gflops:.1f} GFLOP/s",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--formats", nargs="+", choices=["cf", "cl"], default=["cf", "cl"],
                    help="cf: channels-first (NCHW, PyTorch's default), cl: channels_last (NHWC)")
    ap.add_argument("--bn", nargs="+", choices=["off", "on"], default=["off", "on"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_interop_threads(1)
    print(f"torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}",
          file=sys.stderr)
    for t in a.threads:
        for bn in a.bn:
            for fmt in a.formats:
                bench(t, fmt, bn == "on", a.batch, a.warmup, a.steps)


if __name__ == "__main__":
    main()
