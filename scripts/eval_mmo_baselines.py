"""How long MMO agents live and how far they get: a random policy (legal actions only), a
simple scripted policy, and optionally a trained checkpoint, each playing one world of the
checkpoint's (or the default) settings for the same number of ticks from the same seed.

The scripted policy reads only what an agent observes: drink when thirsty next to water, eat
when hungry, gather when low on rations, pick up and equip items, fight an adjacent NPC it
is strong enough for and step away from a stronger one, else walk toward water, food or at
random. Every agent's episode is cut at --max-life ticks, so that each policy is judged on
whole lives; the statistics are means over the lives that ended within the run.

    python scripts/eval_mmo_baselines.py --ticks 3000
    python scripts/eval_mmo_baselines.py --checkpoint runs/mmo-.../checkpoints/final.pt
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import gymnasium
import numpy as np

import shoal
from shoal._ext.mmo import SELF_FIELDS, VIEW_SHAPE
from shoal.mmo import (
    ATTACK_NORTH,
    DRINK,
    EAT,
    EQUIP,
    NORTH,
    USE,
)

ROWS, COLUMNS = VIEW_SHAPE
WINDOW = ROWS * COLUMNS
SELF = {name: index for index, name in enumerate(SELF_FIELDS)}
WATER_TILE = 4
STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # north, east, south, west
STAT_NAMES = ("lifetime", "melee", "ranged", "foraging", "fishing", "mining", "best_item",
              "npc_kills")


def random_policy(seed: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)

    def act(observations: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return np.array([rng.choice(np.flatnonzero(mask)) for mask in masks])

    return act


def toward(wanted: np.ndarray, mask: np.ndarray) -> int | None:
    """A legal move toward the nearest tile of the window where `wanted` holds, or None."""
    found = np.argwhere(wanted)
    if not len(found):
        return None
    centre = np.array([ROWS // 2, COLUMNS // 2])
    target = found[np.argmin(np.abs(found - centre).sum(axis=1))]
    for direction in np.argsort([-np.dot(target - centre, step) for step in STEPS]):
        if mask[NORTH + direction] and np.dot(target - centre, STEPS[direction]) > 0:
            return NORTH + int(direction)
    return None


def scripted_policy(seed: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)

    def one(observation: np.ndarray, mask: np.ndarray) -> int:
        terrain = observation[:WINDOW].reshape(ROWS, COLUMNS)
        resources = observation[WINDOW:2 * WINDOW].reshape(ROWS, COLUMNS)
        npcs = observation[3 * WINDOW:4 * WINDOW].reshape(ROWS, COLUMNS)
        own = observation[5 * WINDOW:]
        strength = 1 + (own[SELF["melee"]] + 2 * own[SELF["weapon level"]]) // 4
        if own[SELF["water"]] < 60 and mask[DRINK]:
            return DRINK
        if own[SELF["food"]] < 60 and mask[EAT]:
            return EAT
        if mask[EQUIP]:
            return EQUIP
        for direction, (dr, dc) in enumerate(STEPS):
            tier = npcs[ROWS // 2 + dr, COLUMNS // 2 + dc]
            if tier and mask[ATTACK_NORTH + direction]:
                if tier <= strength:
                    return ATTACK_NORTH + direction
                away = (direction + 2) % 4  # too strong: step away
                if mask[NORTH + away]:
                    return NORTH + away
        if mask[USE] and (own[SELF["rations"]] < 20 or own[SELF["on an item"]]):
            return USE
        if own[SELF["water"]] < 60:
            move = toward(terrain == WATER_TILE, mask)
            if move is not None:
                return move
        if own[SELF["rations"]] < 20:
            move = toward((resources == 1) | (resources == 2), mask)
            if move is not None:
                return move
        moves = [NORTH + d for d in range(4) if mask[NORTH + d]]
        return int(rng.choice(moves)) if moves else 0

    def act(observations: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return np.array([one(o, m) for o, m in zip(observations, masks)])

    return act


def checkpoint_policy(path: str, envs) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    from shoal.trainer.checkpoint import load_checkpoint
    from shoal.trainer.evaluation import CheckpointPolicy

    policy = CheckpointPolicy(load_checkpoint(path), envs)
    starts = np.ones(envs.num_envs, dtype=bool)

    def act(observations: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return policy(observations, starts, masks)

    return act


def play(envs, act, ticks: int, seed: int) -> dict[str, float]:
    observations, infos = envs.reset(seed=seed)
    lives: dict[str, list[float]] = {name: [] for name in STAT_NAMES}
    for _ in range(ticks):
        observations, _, _, _, infos = envs.step(act(observations, infos["action_mask"]))
        if "episode_stats" in infos:
            ended = infos["_episode_stats"]
            for name in STAT_NAMES:
                lives[name].extend(infos["episode_stats"][name][ended].tolist())
    summary = {"lives": len(lives["lifetime"])}
    for name in STAT_NAMES:
        summary[name] = float(np.mean(lives[name])) if lives[name] else float("nan")
    summary["total_level"] = sum(summary[skill] for skill in STAT_NAMES[1:6])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="also play this trained policy")
    parser.add_argument("--ticks", type=int, default=3000)
    parser.add_argument("--max-life", type=int, default=1000,
                        help="cut every agent's episode at this many ticks (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.ticks < 1 or args.max_life < 1:
        parser.error("--ticks and --max-life must be >= 1")
    settings: dict = {}
    if args.checkpoint:
        from shoal.trainer.checkpoint import load_checkpoint

        settings = dict(load_checkpoint(args.checkpoint)["config"]["env"])
    game = shoal.vector_env_class("shoal/MMO-v0").game_for(**settings)
    envs = gymnasium.make_vec("shoal/MMO-v0", num_envs=game.agents_per_world(),
                              max_episode_steps=args.max_life, **settings)
    results = {
        "random": play(envs, random_policy(args.seed), args.ticks, args.seed),
        "scripted": play(envs, scripted_policy(args.seed), args.ticks, args.seed),
    }
    if args.checkpoint:
        results["trained"] = play(envs, checkpoint_policy(args.checkpoint, envs), args.ticks,
                                  args.seed)
    print(json.dumps({"settings": settings, "ticks": args.ticks, "max_life": args.max_life,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
