"""Write one picture per env for the docs, docs/images/<name>.png, drawn headless (ArrayCanvas,
render_mode="rgb_array"), after a short game played by a simple scripted player so the picture
shows a game in progress. Each env page (scripts/make_env_docs.py) shows its picture.

    python scripts/make_env_images.py            # write the pictures
    python scripts/make_env_images.py --check    # exit 1 if a picture is missing
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import gymnasium
import numpy as np

import shoal
from shoal.render.video import write_png

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"


def image_name(env_id: str) -> str:
    """snake_arena.png for shoal/SnakeArena-v0 (the short names of `shoal train`)."""
    from shoal.trainer.config import env_names  # standard library and shoal only, no torch

    return next(short for short, full in env_names().items() if full == env_id)


def follow_the_ball(envs, infos) -> np.ndarray:
    """Breakout: move the paddle under the ball."""
    state = envs.core.state(0)
    gap = state["ball_x"] - state["paddle_x"]
    return np.array([0 if abs(gap) < 4 else (2 if gap > 0 else 1)], dtype=np.int64)


def toward_food(envs, infos) -> np.ndarray:
    """Snake: every snake steps toward the nearest food it can reach without dying at once."""
    state = envs.core.state(0)
    tiles = state["tiles"]
    food = np.argwhere(tiles == 2)  # (y, x)
    moves = ((0, -1), (1, 0), (0, 1), (-1, 0))  # up, right, down, left as (dx, dy)
    actions = np.zeros(envs.num_envs, dtype=np.int64)
    for agent, (x, y) in enumerate(state["heads"]):
        safe = [a for a, (dx, dy) in enumerate(moves)
                if 0 <= x + dx < tiles.shape[1] and 0 <= y + dy < tiles.shape[0]
                and tiles[y + dy, x + dx] in (0, 2)]
        if not safe or not len(food):
            continue
        distance = np.abs(food[:, 1] - x) + np.abs(food[:, 0] - y)
        fy, fx = food[np.argmin(distance)]
        actions[agent] = min(safe, key=lambda a: abs(fx - x - moves[a][0]) + abs(fy - y - moves[a][1]))
    return actions


def corner_first(envs, infos) -> np.ndarray:
    """2048: the classic corner habit, the first legal move of down, left, right, up."""
    legal = infos["action_mask"][0]
    return np.array([next(a for a in (2, 3, 1, 0) if legal[a])], dtype=np.int64)


def left_hand(envs, infos) -> np.ndarray:
    """Maze: wall following, the first open way of left, ahead, right, back of the heading."""
    state = envs.core.state(0)
    row, column = state["agent"]
    steps = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left
    for turn in (3, 0, 1, 2):
        direction = (state["heading"] + turn) % 4
        if state["tiles"][row + steps[direction][0], column + steps[direction][1]] != 0:
            return np.array([direction], dtype=np.int64)
    return np.array([0], dtype=np.int64)


def through_the_gates(envs, infos) -> np.ndarray:
    """Drone (race): the assisted controller flies to a point before the next gate, then on
    through it."""
    from shoal.drone_play import assisted_action

    state = envs.core.state(0)
    gate = state["next_gate"]
    centre, forward = state["gate_centres"][gate], state["gate_forwards"][gate]
    along = float((state["position"] - centre) @ forward)
    aim = centre + (0.6 if along > -0.4 else -0.4) * forward
    velocity = np.clip(2.0 * (aim - state["position"]), -1.5, 1.5)
    return assisted_action(state, velocity, 0.0)[None, :]


def random_allowed(envs, infos) -> np.ndarray:
    """MMO: each agent takes a random action among those its mask allows, the draw seeded
    by the tick so the picture is the same every time."""
    rng = np.random.default_rng(envs.core.state(0)["tick"])
    masks = infos["action_mask"]
    return np.array([rng.choice(np.flatnonzero(mask)) for mask in masks], dtype=np.int64)


def longest_snake(envs) -> int:
    return int(envs.core.state(0)["lengths"].max())


#: name -> (make_vec arguments, player, at most this many steps, or until picture_ready)
PICTURES: dict[str, tuple[dict, Callable, int, Callable]] = {
    "breakout": (dict(num_envs=1), follow_the_ball, 700, lambda envs: False),
    "snake": (dict(num_envs=1, num_food=3), toward_food, 2000,
              lambda envs: longest_snake(envs) >= 14),
    "snake_arena": (dict(num_envs=256), toward_food, 120, lambda envs: False),
    "2048": (dict(num_envs=1), corner_first, 5000,
             lambda envs: envs.core.state(0)["max_tile"] >= 256),
    "maze": (dict(num_envs=1, min_size=25), left_hand, 90, lambda envs: False),
    "mmo": (dict(num_envs=256), random_allowed, 60, lambda envs: False),
    "drone": (dict(num_envs=1, task="race"), through_the_gates, 400,
              lambda envs: envs.core.state(0)["gates_passed"] >= 2),
}


def picture(env_id: str) -> np.ndarray:
    arguments, player, steps, picture_ready = PICTURES[image_name(env_id)]
    envs = gymnasium.make_vec(env_id, render_mode="rgb_array", **arguments)
    _, infos = envs.reset(seed=7)
    for _ in range(steps):
        *_, infos = envs.step(player(envs, infos))
        frame = envs.render()  # every step: scenes that keep a trail (Drone) draw it
        if picture_ready(envs):
            break
    envs.close()
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a picture is missing")
    args = parser.parse_args()
    missing = []
    for env_id in shoal.ENV_IDS:
        path = IMAGES / f"{image_name(env_id)}.png"
        if args.check:
            if not path.exists():
                missing.append(path)
            continue
        write_png(path, picture(env_id))
        print(f"wrote {path.relative_to(ROOT)}")
    for path in missing:
        print(f"missing: {path.relative_to(ROOT)} (run python scripts/make_env_images.py)")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
