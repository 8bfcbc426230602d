"""The advantage op's CPU kernel against its torch reference, and against memory bandwidth.

For each shape [S, H]: median time of the Cython kernel (through compute_advantages, torch's
thread count) and of the torch reference (a loop over H vectorised over S); the speedup; and
the kernel's bytes moved per second (4 inputs read and 1 output written, S x H float32 each,
plus next_value) as a share of the machine's copy bandwidth, measured here as bytes read plus
bytes written per second by a large tensor copy. Targets: >= 20x the reference and >= 50% of
the copy bandwidth. Prints a table and writes JSON.

    python scripts/bench_advantage.py
    python scripts/bench_advantage.py --shapes 8192x64 65536x64 --repeats 21
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from shoal.files import write_text_atomically
from shoal.trainer.advantage import compute_advantages, reference_advantages


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up: page faults, caches, thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copy_bandwidth(megabytes: int, repeats: int) -> float:
    """Bytes read plus bytes written per second by torch's copy of a large float32 tensor."""
    source = torch.rand(megabytes * 2**20 // 4)
    destination = torch.empty_like(source)
    seconds = median_seconds(lambda: destination.copy_(source), repeats)
    return 2 * source.numel() * 4 / seconds


def parse_shape(text: str) -> tuple[int, int]:
    try:
        segments, horizon = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is SxH, e.g. 8192x64; got {text!r}") from None
    if segments < 1 or horizon < 1:
        raise argparse.ArgumentTypeError(f"both sides of a shape must be >= 1, got {text!r}")
    return segments, horizon


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=[(8192, 64), (65536, 64)])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--json", type=Path, default=Path("bench_results/advantage.json"))
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")

    bandwidth = copy_bandwidth(256, args.repeats)
    machine = {
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "copy_bandwidth_gb_s": bandwidth / 1e9,
    }
    print(f"machine: {machine}")
    header = (f"{'shape':>12}{'reference':>13}{'kernel':>12}{'speedup':>10}"
              f"{'kernel GB/s':>13}{'of copy bw':>12}")
    print(header)
    print("-" * len(header))
    results = []
    generator = torch.Generator().manual_seed(0)
    for segments, horizon in args.shapes:
        values, rewards, ratios = (torch.randn(segments, horizon, generator=generator)
                                   for _ in range(3))
        dones = (torch.rand(segments, horizon, generator=generator) < 0.02).float()
        ratios = ratios.mul(0.2).exp()
        next_value = torch.randn(segments, generator=generator)
        inputs = (values, rewards, dones, ratios, next_value)
        kwargs = dict(gamma=0.99, gae_lambda=0.95)
        kernel = median_seconds(lambda: compute_advantages(*inputs, **kwargs), args.repeats)
        reference = median_seconds(lambda: reference_advantages(*inputs, **kwargs),
                                   max(3, args.repeats // 4))
        moved = (5 * segments * horizon + segments) * 4
        row = {
            "segments": segments,
            "horizon": horizon,
            "reference_seconds": reference,
            "kernel_seconds": kernel,
            "speedup": reference / kernel,
            "kernel_bytes_per_second": moved / kernel,
            "share_of_copy_bandwidth": moved / kernel / bandwidth,
        }
        results.append(row)
        print(f"{segments:>7}x{horizon:<4}{reference * 1e3:>10.2f} ms{kernel * 1e3:>9.3f} ms"
              f"{row['speedup']:>9.1f}x{row['kernel_bytes_per_second'] / 1e9:>12.2f}"
              f"{row['share_of_copy_bandwidth']:>11.0%}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.json, json.dumps({"machine": machine, "results": results}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
