"""Trained policies shipped with shoal: `shoal eval ENV --pretrained`, `shoal play ENV
--pretrained`, or in Python:

    from shoal.trainer.pretrained import load_pretrained
    from shoal.trainer.evaluation import evaluate
    print(evaluate(load_pretrained("breakout"), episodes=10))

`trainer/pretrained/<env>.pt` holds the final policy of one reference run per env: a
checkpoint (trainer/checkpoint.py) stripped to what playing needs (the policy's weights, its
observation statistics and the run's config), read with `weights_only=True` like every
checkpoint. `scripts/ship_pretrained.py RUN_DIR` makes one from a run's checkpoints/final.pt;
its "source" entry says which run it came from, and on what machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

import shoal
from shoal.files import write_atomically
from shoal.trainer.checkpoint import load_checkpoint
from shoal.trainer.config import ConfigError, resolve_env

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
#: The entries a shipped policy keeps; the optimizer, the envs' state and the rollout (what
#: resuming needs) are dropped, most of a checkpoint's size.
KEPT = ("model", "config", "step", "update")


def pretrained_path(env: str) -> Path:
    """The shipped policy of ENV (a short name or an id); ConfigError if there is none."""
    name, env_id = resolve_env(env)
    path = PRETRAINED_DIR / f"{name}.pt"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))) or "none"
        raise ConfigError(f"no pretrained policy for {env_id} is shipped (shipped: {shipped})")
    return path


def load_pretrained(env: str) -> dict[str, Any]:
    """The shipped policy of ENV as a checkpoint dict, for evaluate / watch / CheckpointPolicy."""
    return load_checkpoint(pretrained_path(env))


def strip_checkpoint(checkpoint: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """What a shipped policy keeps of a run's final checkpoint, plus where it came from."""
    missing = [key for key in KEPT if key not in checkpoint]
    if missing:
        raise ConfigError(f"the checkpoint lacks {missing}: not a final checkpoint of shoal train")
    stripped = {key: checkpoint[key] for key in KEPT}
    stripped["model"] = {name: tensor.detach().clone() for name, tensor in checkpoint["model"].items()}
    # Plain values only, through JSON: torch.__version__ is a TorchVersion, which a
    # weights_only load refuses as a class.
    stripped["source"] = json.loads(json.dumps(source, default=str))
    return stripped


#: Episodes of envs with no time limit of their own (an MMO life) are cut here when a shipped
#: policy is evaluated: a good agent may live for as long as one cares to watch.
EVALUATION_STEP_LIMIT = 2000


def evaluation_limit(config: dict[str, Any]) -> dict[str, Any]:
    """The env override that bounds an evaluation's episodes: max_episode_steps for an env
    with no limit of its own or in the config, else nothing."""
    game_class = shoal.vector_env_class(config["env_id"]).game_class
    if game_class.default_max_episode_steps is None and "max_episode_steps" not in config.get("env", {}):
        return {"max_episode_steps": EVALUATION_STEP_LIMIT}
    return {}


def save_pretrained(checkpoint: dict[str, Any], path: str | Path) -> None:
    write_atomically(path, lambda file: torch.save(checkpoint, file))
    os.chmod(path, 0o644)  # package data: readable by everyone (the temporary was 0600)
