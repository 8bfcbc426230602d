"""The optimizers PPO can use: Adam, or Muon for the hidden weight matrices with AdamW for the rest.

- "adam": torch.optim.AdamW over every parameter (with weight_decay = 0 it is Adam), with
  CleanRL's epsilon of 1e-5.
- "muon": torch.optim.Muon (momentum, then the update orthogonalised by Newton-Schulz
  iterations; Jordan et al., 2024) for the 2-D weight matrices of the hidden layers, and AdamW
  for everything else: biases, embeddings, convolution kernels, the encoders' input layers
  (which read observations, not features) and the two heads, which map features to logits and a value rather than features to features (the
  usual practice with Muon). Muon's step is scaled to match AdamW's update size
  (adjust_lr_fn="match_rms_adamw"), so one learning_rate serves both.

`Optimizers` steps several torch optimizers as one: zero_grad, step, a learning rate set on
every parameter group, and one state_dict for checkpoints.

The value head (the critic's output layer) may learn at its own rate: learning_rate times
`value_lr_scale`. Adam moves each weight by about the learning rate per step whatever the
gradient's size, so how fast the value follows its targets, relative to their size, depends
on the scale of the returns; this key (or reward_scale) sets it. A parameter group carries
its factor as "lr_scale", and the annealed learning rate keeps it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from shoal.trainer.config import Config


class Optimizers:
    """Several torch optimizers over disjoint parameters, used as one."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer]):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for optimizer in self.optimizers.values() for group in optimizer.param_groups]

    def set_learning_rate(self, learning_rate: float) -> None:
        for group in self.param_groups:
            group["lr"] = learning_rate * group.get("lr_scale", 1.0)

    def zero_grad(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != set(self.optimizers):
            raise ValueError(
                f"the checkpoint's optimizer holds {sorted(state)}, this run uses "
                f"{sorted(self.optimizers)}: resume with the run's own optimizer setting"
            )
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[name])


def make_optimizer(config: Config, policy: nn.Module) -> Optimizers:
    """The optimizer that config.optimizer names, over the policy's parameters."""
    if config.optimizer == "adam":
        return Optimizers({"adamw": torch.optim.AdamW(
            adamw_groups(list(policy.parameters()), policy, config), lr=config.learning_rate,
            eps=config.adam_eps, weight_decay=config.weight_decay,
        )})
    if config.optimizer != "muon":
        raise ValueError(f"optimizer must be 'adam' or 'muon', got {config.optimizer!r}")
    matrices, others = muon_parameter_split(policy)
    return Optimizers({
        "muon": torch.optim.Muon(matrices, lr=config.learning_rate,
                                 weight_decay=config.weight_decay,
                                 adjust_lr_fn="match_rms_adamw"),
        "adamw": torch.optim.AdamW(adamw_groups(others, policy, config), lr=config.learning_rate,
                                   eps=config.adam_eps, weight_decay=config.weight_decay),
    })


def adamw_groups(parameters: list[nn.Parameter], policy: nn.Module,
                 config: Config) -> list[dict[str, Any]]:
    """AdamW's parameter groups: the value head's parameters at learning_rate * value_lr_scale,
    the others at learning_rate. A single group when the scale is 1, as before the key existed,
    so those runs and their checkpoints are unchanged."""
    if config.value_lr_scale == 1.0:
        return [{"params": parameters, "lr_scale": 1.0}]
    head = {id(parameter) for parameter in policy.critic.parameters()}
    return [
        {"params": [p for p in parameters if id(p) not in head], "lr_scale": 1.0},
        {"params": [p for p in parameters if id(p) in head], "lr_scale": config.value_lr_scale,
         "lr": config.learning_rate * config.value_lr_scale},
    ]


def muon_parameter_split(policy: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(hidden weight matrices for Muon, every other parameter for AdamW). torch's Muon takes
    2-D parameters only, so convolution kernels go to AdamW, and so do, as is usual with
    Muon, the layers at the ends: the heads named `actor` and `critic`, embeddings, the
    input layers that encoders name `input_layer`, and 1-D parameters."""
    ends = [getattr(policy, name) for name in ("actor", "critic")
            if isinstance(getattr(policy, name, None), nn.Module)]
    ends += [module.input_layer for module in policy.modules()
             if isinstance(getattr(module, "input_layer", None), nn.Module)]
    heads = {id(parameter) for module in ends for parameter in module.parameters()}
    embeddings = {id(parameter) for module in policy.modules()
                  if isinstance(module, nn.Embedding) for parameter in module.parameters()}
    matrices, others = [], []
    for parameter in policy.parameters():
        if parameter.ndim == 2 and id(parameter) not in heads | embeddings:
            matrices.append(parameter)
        else:
            others.append(parameter)
    return matrices, others
