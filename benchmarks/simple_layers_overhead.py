"""Per-forward overhead of a ``compile_nn`` network vs the same network written by hand (same weights).

The network is the documentation's MNIST CNN declared with simple layers (section 1.3 ``create_net`` with its
defaults: conv 5x5/2 with 16 channels, max-pool, linear 500, linear 10). Both forwards are timed alternately
in blocks, at batch 64, without gradients (inference) and with forward+backward (training).
Goal: compiled / hand-written time <= 1.05.

    python benchmarks/simple_layers_overhead.py [--batch-size 64] [--iterations 300] [--blocks 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import trw_ray as trw


def create_net():
    sl = trw.simple_layers
    n = sl.Input([None, 1, 28, 28], "images")
    n = sl.Conv2d(n, out_channels=16, kernel_size=5, stride=2)
    n = sl.ReLU(n)
    n = sl.MaxPool2d(n, 2, 2)
    n = sl.Flatten(n)
    n = sl.Linear(n, 500)
    n = sl.ReLU(n)
    n = sl.Linear(n, 10)
    n = sl.OutputClassification(n, output_name="softmax", classes_name="targets")
    return sl.compile_nn([n])


class HandWritten(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 5, stride=2, padding=2)
        self.fc1 = nn.Linear(16 * 7 * 7, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, batch):
        x = F.max_pool2d(F.relu(self.conv(batch["images"])), 2, 2)
        x = self.fc2(F.relu(self.fc1(x.flatten(1))))
        return {"softmax": trw.train.OutputClassification(x, "targets")}


def timed(model, batch, iterations: int, backward: bool) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        if backward:
            model(batch)["softmax"].output.sum().backward()
        else:
            with torch.no_grad():
                model(batch)
    return (time.perf_counter() - started) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    compiled, hand = create_net(), HandWritten()
    with torch.no_grad():
        hand.conv.weight.copy_(compiled.layers["1_conv2d"].weight)
        hand.conv.bias.copy_(compiled.layers["1_conv2d"].bias)
        hand.fc1.weight.copy_(compiled.layers["5_linear"].weight)
        hand.fc1.bias.copy_(compiled.layers["5_linear"].bias)
        hand.fc2.weight.copy_(compiled.layers["7_linear"].weight)
        hand.fc2.bias.copy_(compiled.layers["7_linear"].bias)
    batch = {"images": torch.rand(args.batch_size, 1, 28, 28), "targets": torch.zeros(args.batch_size, dtype=torch.long)}
    difference = (compiled(batch)["softmax"].output - hand(batch)["softmax"].output).abs().max().item()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; max output difference {difference:.2e}")
    for backward in (False, True):
        ours, theirs = [], []
        timed(compiled, batch, 20, backward), timed(hand, batch, 20, backward)
        for _ in range(args.blocks):
            theirs.append(timed(hand, batch, args.iterations, backward))
            ours.append(timed(compiled, batch, args.iterations, backward))
        mode = "forward+backward" if backward else "forward (no grad)"
        ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
        print(f"{mode:18s} batch {args.batch_size}: hand-written {theirs_median * 1e6:8.1f} us, compile_nn "
              f"{ours_median * 1e6:8.1f} us, ratio {ours_median / theirs_median:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
