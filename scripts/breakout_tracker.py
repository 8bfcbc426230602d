"""How forgiving Breakout's catching is, without any learning: a scripted tracker moves the
paddle's centre toward the ball's x (a dead zone of 4 pixels) and reports the mean score of
the episodes it finishes (docs/breakout_diagnosis.md).

    python scripts/breakout_tracker.py                      # the default 64-pixel paddle
    python scripts/breakout_tracker.py --paddle-width 96    # the trainer config's paddle
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np

import shoal  # noqa: F401  (registers the ids)
from shoal.breakout import LEFT, NOOP, RIGHT
from shoal._ext.breakout import FIELD_WIDTH, OBSERVATION_FIELDS

PADDLE_X = OBSERVATION_FIELDS.index("paddle_x")
BALL_X = OBSERVATION_FIELDS.index("ball_x")


def track(paddle_width: float, num_envs: int, steps: int, seed: int) -> tuple[float, int]:
    """(mean score, episodes finished) of the tracker over `steps` steps of `num_envs` envs."""
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=num_envs, paddle_width=paddle_width)
    observations, _ = envs.reset(seed=seed)
    scores: list[float] = []
    for _ in range(steps):
        gap = (observations[:, BALL_X] - observations[:, PADDLE_X]) * FIELD_WIDTH
        actions = np.where(gap > 4, RIGHT, np.where(gap < -4, LEFT, NOOP)).astype(np.int32)
        observations, _, _, _, infos = envs.step(actions)
        if "episode_stats" in infos:
            scores += infos["episode_stats"]["score"][infos["_episode_stats"]].tolist()
    envs.close()
    return (float(np.mean(scores)) if scores else float("nan")), len(scores)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paddle-width", type=float, default=64.0)
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    score, episodes = track(args.paddle_width, args.num_envs, args.steps, args.seed)
    print(f"paddle_width {args.paddle_width:g}: mean score {score:.1f} over {episodes} episodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
