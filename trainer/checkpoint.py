"""Checkpoints: written atomically, read with `torch.load(weights_only=True)`.

A checkpoint is a dict of tensors and plain values only (no pickled classes), so loading one
never runs code from the file:

    {"model": state_dict, "optimizer": state_dict, "torch_rng_state": ByteTensor,
     "step": int (agent-steps trained), "update": int, "config": dict (the resolved config),
     ...extra}

The trainer's extra entries (`training_state` below) make a run resumable exactly:
"envs" (each vector env's native state, ShoalVectorEnv.get_state, as uint8/int tensors),
"rollout" (the next observations, episode starts, LSTM state and action mask the next
rollout begins from), "episodes" (episode sums since the last log) and "wall_time".

`save_checkpoint` writes a temporary file in the checkpoint's own directory, flushes and
fsyncs it, then renames it over the target with `os.replace`, which is atomic on POSIX and
Windows: a reader (or a crash, or a full disk) sees the old checkpoint or the new one, never
a torn file. `restore` loads a checkpoint of a run into the fresh objects of its resumed
run, so that it continues exactly like the uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from shoal.files import write_atomically
from shoal.trainer.config import Config, ConfigError

if TYPE_CHECKING:
    from shoal.trainer.policies import ActorCritic
    from shoal.trainer.rollout import EnvRows, EpisodeStats, RolloutStorage


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: Any,  # a torch optimizer or shoal.trainer.optimizers.Optimizers: a state_dict()
    step: int,
    config: dict[str, Any],
    update: int = 0,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write model and optimizer state, torch's RNG state, the step count and the config to
    `path` atomically (the previous file at `path` survives any failure)."""
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng_state": torch.get_rng_state(),
        "step": int(step),
        "update": int(update),
        "config": dict(config),
        **(extra or {}),
    }
    write_atomically(path, lambda file: torch.save(checkpoint, file))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict at `path`, loaded with weights_only=True (tensors and plain values
    only). FileNotFoundError names the path when there is none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location=map_location, weights_only=True)


# ---- the resume state: what a run needs besides model and optimizer ----


def training_state(envs: EnvRows, storage: RolloutStorage, episodes: EpisodeStats,
                   wall_time: float, world_size: int = 1) -> dict[str, Any]:
    """What a checkpoint needs besides model and optimizer to continue exactly: the envs'
    native state, what the rollout carries to the next one, the episode sums since the
    last log and the wall time so far. Tensors and plain values only (weights_only)."""
    carried = {"next_obs": storage.next_obs, "next_starts": storage.next_starts}
    if storage.state is not None:
        carried["lstm_state"] = storage.state
    if storage.next_mask is not None:
        carried["next_mask"] = storage.next_mask
    return {
        "envs": [{key: torch.from_numpy(np.array(value, order="C", copy=True)) for key, value in state.items()}
                 for state in envs.get_state()],
        "rollout": {key: value.detach().cpu() for key, value in carried.items()},
        "episodes": episodes.state(),
        "wall_time": float(wall_time),
        "world_size": int(world_size),
    }


def restore(checkpoint: dict[str, Any], policy: ActorCritic, optimizer, envs: EnvRows,
            storage: RolloutStorage, episodes: EpisodeStats, config: Config) -> tuple[int, int, float]:
    """Load a checkpoint of this run into the fresh objects; returns (the first update to
    run, the global step, the wall time so far)."""
    if "envs" not in checkpoint or "rollout" not in checkpoint:
        raise ConfigError("the checkpoint lacks the envs' state (it was written by an older "
                          "shoal): it can be evaluated but not resumed")
    if checkpoint.get("world_size", 1) != 1:
        raise ConfigError(f"the checkpoint is of a run on {checkpoint['world_size']} ranks and "
                          "holds rank 0's envs alone: it can be evaluated but not resumed")
    policy.load_state_dict(checkpoint["model"])
    try:
        optimizer.load_state_dict(checkpoint["optimizer"])
        envs.set_state([{key: value.numpy() for key, value in state.items()}
                        for state in checkpoint["envs"]])
    except ValueError as error:
        raise ConfigError(f"cannot resume: {error}") from None
    rollout = checkpoint["rollout"]
    storage.next_obs.copy_(rollout["next_obs"])
    storage.next_starts.copy_(rollout["next_starts"])
    if storage.state is not None:
        storage.state.copy_(rollout["lstm_state"])
    if "next_mask" in rollout:
        segments, horizon = storage.rewards.shape
        storage.next_mask = rollout["next_mask"].to(storage.device)
        storage.masks = torch.ones((segments, horizon, storage.next_mask.shape[1]),
                                   dtype=torch.bool, device=storage.device)
    episodes.load(checkpoint["episodes"])
    torch.set_rng_state(checkpoint["torch_rng_state"])
    return checkpoint["update"] + 1, checkpoint["step"], checkpoint["wall_time"]
