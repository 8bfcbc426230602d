"""How often a 2048 policy reaches each tile: play a checkpoint for N episodes (the first
episode of N boards, actions sampled, illegal moves masked) and print the share of episodes
whose largest tile is at least 256, 512, 1024, 2048, 4096, with the mean score.

    python scripts/eval_2048_tiles.py runs/2048-.../checkpoints/final.pt --episodes 1000
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from shoal.trainer.checkpoint import load_checkpoint
from shoal.trainer.config import config_from_dict
from shoal.trainer.evaluation import CheckpointPolicy
from shoal.trainer.rollout import make_envs

THRESHOLDS = (256, 512, 1024, 2048, 4096)


def tile_shares(checkpoint: dict, episodes: int, seed: int) -> dict:
    config = config_from_dict(checkpoint["config"], "the checkpoint's config")
    if config.env_id != "shoal/2048-v0":
        raise SystemExit(f"the checkpoint was trained on {config.env_id}, not shoal/2048-v0")
    envs = make_envs(config, num_envs=episodes)
    policy = CheckpointPolicy(checkpoint, envs)
    max_tiles = np.zeros(episodes)
    scores = np.zeros(episodes)
    finished = np.zeros(episodes, dtype=bool)
    observations, infos = envs.reset(seed=seed)
    starts = np.ones(episodes, dtype=bool)
    while not finished.all():
        observations, _, terminations, truncations, infos = envs.step(
            policy(observations, starts, infos["action_mask"]))
        starts = terminations | truncations
        if "episode_stats" in infos:
            first = infos["_episode_stats"] & ~finished
            max_tiles[first] = infos["episode_stats"]["max_tile"][first]
            scores[first] = infos["episode_stats"]["score"][first]
            finished |= first
    envs.close()
    return {
        "episodes": episodes,
        "score_mean": float(scores.mean()),
        "max_tile_median": float(np.median(max_tiles)),
        "share_reaching": {str(t): float((max_tiles >= t).mean()) for t in THRESHOLDS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    print(json.dumps(tile_shares(load_checkpoint(args.checkpoint), args.episodes, args.seed),
                     indent=2))


if __name__ == "__main__":
    main()
