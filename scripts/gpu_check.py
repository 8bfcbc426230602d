"""The GPU path in one prepared run (scripts/gpu_check.sh calls this after building shoal).

Each step writes its results to OUT/results.json (the curve to OUT/curve_metrics.csv) and prints one summary
line; a step that fails records its error and the next one still runs.

    python scripts/gpu_check.py --out OUT [--minutes-left M]

  parity      the CUDA advantage kernel against the CPU kernel and the torch reference at
              [8192, 64] and [65536, 64], with the clip settings of the test suite: max error
  bandwidth   the CUDA advantage op's time and its effective GB/s (bytes it must read and
              write), beside a device-to-device copy's GB/s measured in the same run
  training    PPO on Breakout with the policy and rollout storage on the GPU, at 4096, 8192
              and 16384 envs (stepped on the host's cores), with and without overlap_rollout:
              agent-steps/s, split into rollout and update; a torch.profiler table where it
              is slowest
  nccl        torchrun --nproc-per-node 1 with the NCCL backend for a few updates
  curve       Breakout trained on the GPU for the minutes left: its metrics.csv

SHOAL_GPU_DRY_RUN=1 runs every step on the CPU with small sizes (CUDA-only checks are
recorded as skipped), so CI proves the script works before a GPU ever runs it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

DRY_RUN = os.environ.get("SHOAL_GPU_DRY_RUN") == "1"
DEVICE = "cpu" if DRY_RUN else "cuda"
ROOT = Path(__file__).resolve().parent.parent


def write_json(out: Path, name: str, data: dict) -> None:
    """Add one step's results to OUT/results.json (one file: the device sends back at most
    eight)."""
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[name] = data
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")


def parity(out: Path) -> str:
    from shoal.trainer import advantage
    from shoal.trainer.advantage import compute_advantages, reference_advantages

    if DRY_RUN:
        write_json(out, "parity", {"skipped": "dry run: no CUDA device"})
        return "skipped (dry run)"
    assert advantage.cuda_kernel() is not None, "the CUDA kernel did not build"
    results = []
    for segments, horizon in ((8192, 64), (65536, 64)):
        generator = torch.Generator().manual_seed(segments)
        values, rewards = torch.randn(2, segments, horizon, generator=generator)
        dones = (torch.rand(segments, horizon, generator=generator) < 0.1).float()
        ratios = torch.exp(0.5 * torch.randn(segments, horizon, generator=generator))
        next_value = torch.randn(segments, generator=generator)
        cpu = [values, rewards, dones, ratios, next_value]
        gpu = [t.cuda() for t in cpu]
        for rho_clip, c_clip in ((1.0, 1.0), (math.inf, math.inf), (0.5, 2.0)):
            kwargs = dict(gamma=0.99, gae_lambda=0.95, rho_clip=rho_clip, c_clip=c_clip)
            on_gpu = compute_advantages(*gpu, **kwargs)
            against_cpu = (on_gpu.cpu() - compute_advantages(*cpu, **kwargs)).abs().max().item()
            against_reference = (on_gpu - reference_advantages(*gpu, **kwargs)).abs().max().item()
            results.append({"shape": [segments, horizon], "rho_clip": rho_clip, "c_clip": c_clip,
                            "max_error_vs_cpu_kernel": against_cpu,
                            "max_error_vs_torch_reference": against_reference})
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(ROOT / "tests/trainer/test_advantage.py"), "-k", "cuda"],
                           capture_output=True, text=True, cwd=ROOT)
    worst = max(max(r["max_error_vs_cpu_kernel"], r["max_error_vs_torch_reference"]) for r in results)
    write_json(out, "parity", {"cases": results, "max_error": worst,
                               "cuda_tests_exit_status": tests.returncode,
                               "cuda_tests_output": tests.stdout[-3000:]})
    return f"max error {worst:.3g}; CUDA tests exit {tests.returncode}"


def bandwidth(out: Path) -> str:
    from shoal.trainer.advantage import compute_advantages

    segments, horizon = (1024, 64) if DRY_RUN else (65536, 64)
    device = torch.device(DEVICE)
    values, rewards, ratios = (torch.randn(segments, horizon, device=device) for _ in range(3))
    dones = (torch.rand(segments, horizon, device=device) < 0.1).float()
    next_value = torch.randn(segments, device=device)

    def timed(call, repeats: int = 20) -> float:
        call()
        if not DRY_RUN:
            torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            if not DRY_RUN:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    seconds = timed(lambda: compute_advantages(values, rewards, dones, ratios, next_value,
                                               gamma=0.99, gae_lambda=0.95))
    # It must read values, rewards, dones and ratios and write the advantages: 5 floats per
    # sample (next_value is one per segment).
    moved = 5 * 4 * segments * horizon + 4 * segments
    big = torch.empty(256 * 2**20 // 4, device=device)
    copy_seconds = timed(lambda: big.clone(), repeats=10)
    copy_rate = 2 * big.numel() * 4 / copy_seconds / 1e9  # read + write
    rate = moved / seconds / 1e9
    write_json(out, "bandwidth", {"shape": [segments, horizon], "device": DEVICE,
                                  "median_seconds": seconds, "effective_GBps": rate,
                                  "copy_GBps": copy_rate, "fraction_of_copy": rate / copy_rate})
    return (f"{rate:.3g} GB/s ({rate / copy_rate:.0%} of a copy's {copy_rate:.3g} GB/s) at "
            f"{segments} x {horizon}")


def breakout_config(num_envs: int, overrides: list[str]):
    from shoal.trainer.config import load_config

    threads = os.cpu_count() or 1
    return load_config("breakout", overrides=[
        "--device", DEVICE, "--num-envs", str(num_envs), "--num-threads", str(threads),
        "--torch-threads", str(threads), "--display", "none", "--checkpoint-interval", "0",
        "--minibatch-size", str(num_envs * 64 // 16), *overrides])


def training(out: Path) -> str:
    from shoal.trainer.ppo import train

    sizes = (64,) if DRY_RUN else (4096, 8192, 16384)
    updates = 1 if DRY_RUN else 6
    rows = []
    for num_envs in sizes:
        for overlap in (False, True):
            config = breakout_config(num_envs, ["--overlap-rollout", str(overlap).lower(),
                                                "--total-timesteps", str(num_envs * 64 * 100)])
            with tempfile.TemporaryDirectory() as run_dir:
                train(config, run_dir, quiet=True, stop_after_updates=1)  # warm-up
            with tempfile.TemporaryDirectory() as run_dir:
                summary = train(config, Path(run_dir) / "timed", quiet=True,
                                stop_after_updates=updates)
            seconds = summary["rollout_seconds"] + summary["update_seconds"]
            rows.append({"num_envs": num_envs, "overlap_rollout": overlap, "updates": updates,
                         "sps": summary["global_step"] / seconds,  # rollouts + updates
                         "rollout_share": summary["rollout_seconds"] / seconds,
                         "update_share": summary["update_seconds"] / seconds})
    slowest = min(rows, key=lambda row: row["sps"])
    write_json(out, "training", {"device": DEVICE, "cpu_threads": os.cpu_count(), "runs": rows,
                                 "profile": profile(out, slowest["num_envs"], slowest["overlap_rollout"])})
    best = max(rows, key=lambda row: row["sps"])
    return (f"best {best['sps']:,.0f} agent-steps/s at {best['num_envs']} envs "
            f"(overlap {best['overlap_rollout']}); slowest {slowest['sps']:,.0f}")


def profile(out: Path, num_envs: int, overlap: bool) -> str:
    """torch.profiler over one update of the slowest setting: where the time goes between
    stepping the envs, host-device copies and the network."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from shoal.trainer.ppo import train

    config = breakout_config(num_envs, ["--overlap-rollout", str(overlap).lower(),
                                        "--total-timesteps", str(num_envs * 64 * 100)])
    activities = [ProfilerActivity.CPU] + ([] if DRY_RUN else [ProfilerActivity.CUDA])
    with tempfile.TemporaryDirectory() as run_dir, torch_profile(activities=activities) as prof:
        train(config, run_dir, quiet=True, stop_after_updates=1)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
    (out / "profile.txt").write_text(table)
    return "profile.txt"


def nccl(out: Path) -> str:
    backend_flag = [] if DRY_RUN else ["--device", "cuda"]
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1",
                   "-m", "shoal.trainer.cli", "train", "breakout", *backend_flag,
                   "--num-envs", "64" if DRY_RUN else "4096",
                   "--minibatch-size", "1024" if DRY_RUN else "16384",
                   "--total-timesteps", str(3 * 64 * (64 if DRY_RUN else 4096)),
                   "--display", "lines", "--run-dir", str(Path(run_dir) / "run")]
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    backend = "gloo" if DRY_RUN else "nccl"
    write_json(out, "nccl", {"backend": backend, "exit_status": result.returncode,
                             "command": " ".join(command[1:]),
                             "output": (result.stdout + result.stderr)[-3000:]})
    if result.returncode != 0:
        raise RuntimeError(f"torchrun exited {result.returncode}: {result.stderr[-500:]}")
    return f"torchrun, 1 process, {backend}: 3 updates, exit 0"


def curve(out: Path, minutes: float) -> str:
    from shoal.trainer.ppo import train

    num_envs = 64 if DRY_RUN else 8192
    budget = 5.0 if DRY_RUN else minutes * 60
    config = breakout_config(num_envs, ["--total-timesteps", "200_000_000" if not DRY_RUN
                                        else str(num_envs * 64 * 4)])
    start = time.perf_counter()
    run_dir = Path(tempfile.mkdtemp(prefix="shoal-gpu-curve-"))
    summary = train(config, run_dir, quiet=True,
                    on_log=lambda row: time.perf_counter() - start > budget)
    (out / "curve_metrics.csv").write_bytes((run_dir / "metrics.csv").read_bytes())
    write_json(out, "curve", {"num_envs": num_envs, "budget_seconds": budget,
                              "steps": summary["global_step"], "score": summary.get("score"),
                              "mean_sps": summary["mean_sps"]})
    return f"{summary['global_step']:,} steps at {summary['mean_sps']:,.0f}/s, last score {summary.get('score')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes-left", type=float, default=2.0,
                        help="minutes for the Breakout curve at the end")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not DRY_RUN and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (set SHOAL_GPU_DRY_RUN=1 for the CPU dry run)", file=sys.stderr)
        return 2
    host = {"dry_run": DRY_RUN, "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name() if not DRY_RUN else None, "cpus": os.cpu_count()}
    write_json(args.out, "host", host)
    print(f"gpu_check on {host['gpu'] or 'the CPU (dry run)'}, torch {host['torch']}")
    steps = [("parity", parity), ("bandwidth", bandwidth), ("training", training),
             ("nccl", nccl), ("curve", lambda out: curve(out, args.minutes_left))]
    failed = []
    for name, step in steps:
        start = time.perf_counter()
        try:
            line = step(args.out)
        except Exception as error:
            failed.append(name)
            line = f"FAILED: {type(error).__name__}: {error}"
            write_json(args.out, f"{name}_error", {"traceback": traceback.format_exc()})
        print(f"  {name:10s} {line}   [{time.perf_counter() - start:.0f} s]", flush=True)
    write_json(args.out, "summary", {"failed": failed})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
