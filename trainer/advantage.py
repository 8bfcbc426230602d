"""The advantage op: GAE with V-trace's clipped importance weights, on CPU or CUDA.

    advantages = compute_advantages(values, rewards, dones, ratios, next_value,
                                    gamma=0.99, gae_lambda=0.95)

`values`, `rewards`, `dones`, `ratios` are [S, H] float32 tensors (S segments of H steps),
`next_value` is [S] (the value of the observation after each segment's last step). For each
segment, backwards over t:

    rho_t = min(ratio_t, rho_clip),  c_t = min(ratio_t, c_clip),  V_H = next_value
    delta_t = rho_t * (r_t + gamma * (1 - d_t) * V_{t+1} - V_t)
    A_t = delta_t + gamma * gae_lambda * c_t * (1 - d_t) * A_{t+1},  A_H = 0

With every ratio 1 this is GAE; value targets are A + V. `dones` marks terminations only: the
trainer folds a truncation into the reward (r + gamma * V(final observation)) and marks the step
done, so a time limit is never treated as a failure.

One definition, three implementations that tests hold equal:
- `reference_advantages`: plain torch, a loop over H vectorised over S (the specification);
- the Cython CPU kernel (`shoal._ext.advantage`): rows in parallel with the GIL released,
  reading and writing the tensors' own memory;
- the CUDA kernel (advantage_kernel.cu, bound by advantage_binding.cpp): compiled on first use
  with torch.utils.cpp_extension.load and cached by torch, launched on the current stream, so
  installing shoal never needs torch or nvcc.

`compute_advantages` dispatches on the tensors' device and on what actually built: a CUDA
tensor whose kernel cannot build falls back to the torch reference with one warning.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import torch

from shoal._ext import advantage as cpu_kernel

KERNEL_DIR = Path(__file__).resolve().parent
CUDA_SOURCES = (KERNEL_DIR / "advantage_binding.cpp", KERNEL_DIR / "advantage_kernel.cu")


def reference_advantages(
    values: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    ratios: torch.Tensor,
    next_value: torch.Tensor,
    *,
    gamma: float,
    gae_lambda: float,
    rho_clip: float = 1.0,
    c_clip: float = 1.0,
) -> torch.Tensor:
    """The definition in torch: a loop over the horizon, vectorised over segments."""
    horizon = values.shape[1]
    advantages = torch.empty_like(values)
    next_advantage = torch.zeros_like(next_value)
    for t in reversed(range(horizon)):
        not_done = 1.0 - dones[:, t]
        rho = torch.clamp(ratios[:, t], max=rho_clip)
        c = torch.clamp(ratios[:, t], max=c_clip)
        delta = rho * (rewards[:, t] + gamma * not_done * next_value - values[:, t])
        next_advantage = delta + gamma * gae_lambda * c * not_done * next_advantage
        advantages[:, t] = next_advantage
        next_value = values[:, t]
    return advantages


def compute_advantages(
    values: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    ratios: torch.Tensor,
    next_value: torch.Tensor,
    *,
    gamma: float,
    gae_lambda: float,
    rho_clip: float = 1.0,
    c_clip: float = 1.0,
) -> torch.Tensor:
    """Advantages [S, H] float32 on the inputs' device (see the module docstring)."""
    check_inputs(values, rewards, dones, ratios, next_value, gamma, gae_lambda, rho_clip, c_clip)
    inputs = [t.detach().contiguous() for t in (values, rewards, dones, ratios, next_value)]
    out = torch.empty_like(inputs[0])
    if values.device.type == "cpu":
        arrays = [t.numpy() for t in inputs]  # views of the tensors' memory, no copies
        cpu_kernel.compute_advantages(
            *arrays, out.numpy(), gamma, gae_lambda, rho_clip, c_clip, torch.get_num_threads()
        )
        return out
    if values.device.type == "cuda":
        kernel = cuda_kernel()
        if kernel is not None:
            kernel.compute_advantages(*inputs, out, gamma, gae_lambda, rho_clip, c_clip)
            return out
    return reference_advantages(
        *inputs, gamma=gamma, gae_lambda=gae_lambda, rho_clip=rho_clip, c_clip=c_clip
    )


@functools.cache
def cuda_kernel() -> Any | None:
    """The compiled CUDA extension, built once per process (torch caches the build on disk),
    or None with one warning when it cannot be built here."""
    try:
        from torch.utils.cpp_extension import load

        return load(
            name="shoal_advantage_cuda",
            sources=[str(path) for path in CUDA_SOURCES],
            extra_cuda_cflags=["-O3"],
            verbose=False,
        )
    except Exception as error:  # no nvcc, no CUDA toolkit, a compiler mismatch, ...
        warnings.warn(
            f"the CUDA advantage kernel could not be built ({type(error).__name__}: {error}); "
            "CUDA tensors use the torch reference implementation instead",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def check_inputs(
    values: Any,
    rewards: Any,
    dones: Any,
    ratios: Any,
    next_value: Any,
    gamma: Any,
    gae_lambda: Any,
    rho_clip: Any,
    c_clip: Any,
) -> None:
    """Clear errors for anything the kernels would misread."""
    named = {"values": values, "rewards": rewards, "dones": dones, "ratios": ratios,
             "next_value": next_value}
    for name, tensor in named.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dtype != torch.float32:
            raise TypeError(f"{name} must be float32, got {tensor.dtype}")
        if tensor.device != values.device:
            raise ValueError(f"{name} is on {tensor.device}, values on {values.device}")
    if values.dim() != 2:
        raise ValueError(f"values must have shape [S, H], got {tuple(values.shape)}")
    for name in ("rewards", "dones", "ratios"):
        if named[name].shape != values.shape:
            raise ValueError(
                f"{name} must have the shape of values {tuple(values.shape)}, "
                f"got {tuple(named[name].shape)}"
            )
    if next_value.shape != values.shape[:1]:
        raise ValueError(
            f"next_value must have shape [S] = ({values.shape[0]},), got {tuple(next_value.shape)}"
        )
    for name, value, low, high in (("gamma", gamma, 0.0, 1.0), ("gae_lambda", gae_lambda, 0.0, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    for name, value in (("rho_clip", rho_clip), ("c_clip", c_clip)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a number > 0 (math.inf for no clipping), got {value!r}")
