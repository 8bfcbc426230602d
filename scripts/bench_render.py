"""Frames per second of every env's scene, on both backends, next to the cost of a step.

For each id (and each view of multi-agent ids): the median over repeats of
- `rgb_array`: `envs.render()`, the numpy rasterizer (ArrayCanvas), frame copy included;
- `raylib`: the same scene drawn in a raylib window and shown (begin, draw, present, unpaced),
  when a display exists (run under `xvfb-run -a -s "-screen 0 1920x1200x24"` on a server:
  Xvfb rasterizes with the CPU, so a real GPU is faster);
- `gif`: the frame added to a GIF recording (colour quantization), the extra cost of
  `shoal eval --video out.gif` per frame;
- `step`: one `step()` of the one-world env being drawn, for scale.

    python scripts/bench_render.py
    xvfb-run -a -s "-screen 0 1920x1200x24" python scripts/bench_render.py --json docs/render_benchmarks.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see bench_envs.py

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium
import numpy as np

import shoal
from shoal.files import write_text_atomically
from shoal.trainer.bench import cpu_capability, cpu_model


def per_second(action: Callable[[], object], count: int, repeats: int) -> float:
    """Median over repeats of count calls per second (after one warm-up call)."""
    action()
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            action()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def cases() -> list[tuple[str, str, int]]:
    """(id, view, num_envs): one world of each id, both views of the multi-agent one."""
    out = []
    for env_id in shoal.ENV_IDS:
        agents = shoal.vector_env_class(env_id).game_for().agents_per_world()
        views = ("world", "agent") if agents > 1 else ("world",)
        out += [(env_id, view, agents) for view in views]
    return out


def measure(env_id: str, view: str, num_envs: int, frames: int, repeats: int,
            with_window: bool) -> dict:
    envs = gymnasium.make_vec(env_id, num_envs=num_envs, render_mode="rgb_array",
                              render_view=view)
    envs.reset(seed=0)
    envs.action_space.seed(0)
    for _ in range(50):
        envs.step(envs.action_space.sample())  # a game in progress, not the first frame
    scene = envs.scene
    result = {"env_id": env_id, "view": view, "num_envs": num_envs,
              "frame": [scene.width, scene.height]}
    result["rgb_array_fps"] = per_second(envs.render, frames, repeats)
    actions = envs.action_space.sample()
    result["step_per_second"] = per_second(lambda: envs.step(actions), frames, repeats)
    try:
        from shoal.render.video import VideoWriter

        frame = envs.render()
        with tempfile.TemporaryDirectory() as folder:
            writer = VideoWriter(Path(folder) / "bench.gif", fps=30)
            result["gif_frames_per_second"] = per_second(lambda: writer.add(frame), frames,
                                                         repeats)
            writer.abort()
    except ImportError:
        result["gif_frames_per_second"] = None
    if with_window:
        from shoal.render.raylib_canvas import RaylibCanvas

        state = envs.scene_state()
        window = RaylibCanvas(scene.width, scene.height, fps=0, title="bench")

        def draw() -> None:
            window.begin()
            scene.draw(window, state)
            window.present()

        result["raylib_fps"] = per_second(draw, frames, repeats)
        window.close()
    envs.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200, help="frames per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("bench_results/render.json"))
    args = parser.parse_args()
    if args.frames < 1 or args.repeats < 1:
        parser.error("--frames and --repeats must be >= 1")
    with_window = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    results = [measure(*case, args.frames, args.repeats, with_window) for case in cases()]
    print(f"frames per second, median of {args.repeats} x {args.frames} frames on {cpu_model()}"
          + ("" if with_window else " (no display: raylib not measured)"))
    print("| env | view | frame | rgb_array | raylib | gif encoding | step (1 world) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in results:
        raylib = f"{r['raylib_fps']:,.0f}" if "raylib_fps" in r else "-"
        gif = f"{r['gif_frames_per_second']:,.0f}" if r["gif_frames_per_second"] else "-"
        print(f"| {r['env_id']} | {r['view']} | {r['frame'][0]} x {r['frame'][1]} | "
              f"{r['rgb_array_fps']:,.0f} | {raylib} | {gif} | {r['step_per_second']:,.0f} |")
    machine = {"cpu": cpu_model(), "cpu_capability": cpu_capability(), "logical_cpus": os.cpu_count(),
               "python": platform.python_version(), "numpy": np.__version__,
               "display": os.environ.get("DISPLAY")}
    write_text_atomically(args.json, json.dumps({"machine": machine, "results": results},
                                                indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
