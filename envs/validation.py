"""Argument checks shared by every env: one clear message naming the argument, the expected
value and what was received. Bad input raises here, at the Python boundary, so the native
cores can trust what they are given."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Return `value` as an int in [low, high]; bool and non-integral numbers are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_describe(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be in [{_bound(low)}, {_bound(high)}], got {value}")
    return value


def check_float(
    name: str, value: Any, low: float | None = None, high: float | None = None
) -> float:
    """Return `value` as a finite float in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be in [{_bound(low)}, {_bound(high)}], got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_describe(value)}")
    return bool(value)


def check_options(options: Any) -> dict[str, Any]:
    """reset()'s options as a new dict: None is empty, anything but a mapping is refused."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be None or a dict, got {_describe(options)}")
    return dict(options)


def check_seed(seed: Any, limit: int) -> int | None:
    """A reset seed: None, or an int in [0, limit - 1]. A 0-d numpy array is refused with a
    hint (it is not an int, though it holds one)."""
    if seed is None:
        return None
    if isinstance(seed, np.ndarray):
        raise TypeError(f"seed must be None or an int, got a numpy array of shape {seed.shape}: "
                        "pass int(seed)")
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(f"seed must be None or an int, got {_describe(seed)}")
    return check_int("seed", seed, 0, limit - 1)


def check_choice(name: str, value: Any, choices: Any) -> Any:
    """Return `value` if it is one of `choices` (a string option such as a mode's name)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {_describe(value)}")
    return value


#: Rewards are float32 and summed into returns: parameters that set them stay far below
#: float32's range, so no reward or return can overflow to inf.
MAX_REWARD_MAGNITUDE = 1e6


def check_reward(name: str, value: Any, low: float = -MAX_REWARD_MAGNITUDE) -> float:
    """A finite reward (or reward scale) in [low, MAX_REWARD_MAGNITUDE]."""
    return check_float(name, value, low, MAX_REWARD_MAGNITUDE)


def _bound(bound: float | None) -> str:
    return "unbounded" if bound is None else str(bound)
