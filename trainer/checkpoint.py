"""Checkpoints: written atomically, read with `torch.load(weights_only=True)`.

A checkpoint is a dict of tensors and plain values only (no pickled classes), so loading one
never runs code from the file:

    {"model": state_dict, "optimizer": state_dict, "torch_rng_state": ByteTensor,
     "step": int (agent-steps trained), "update": int, "config": dict (the resolved config),
     ...extra}

The trainer's extra entries (trainer/ppo.py, training_state) make a run resumable exactly:
"envs" (each vector env's native state, ShoalVectorEnv.get_state, as uint8/int tensors),
"rollout" (the next observations, episode starts, LSTM state and action mask the next
rollout begins from), "episodes" (episode sums since the last log) and "wall_time".

`save_checkpoint` writes a temporary file in the checkpoint's own directory, flushes and
fsyncs it, then renames it over the target with `os.replace`, which is atomic on POSIX and
Windows: a reader (or a crash, or a full disk) sees the old checkpoint or the new one, never
a torn file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from shoal._ext.files import write_atomically


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
