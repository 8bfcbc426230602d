"""The env side of the hostile-input sweep: for one id, every area a user can get wrong.

    python -m tests.envs.hostile_sweep shoal/Breakout-v0     # one JSON line per probe

Run by tests/envs/test_hostile_sweep.py in a subprocess with a timeout, so that a crash or a
hang fails that test instead of killing the run. Each probe records what it expected:

- "refused": a ValueError or TypeError (shoal's ResetNeeded and ClosedEnvironmentError are
  ValueErrors) whose message names the argument;
- "accepted": no exception, and an env built this way steps with finite outputs inside its
  space;
- "either": a value that may be valid for some parameters (-1 is a fine reward, not a width).

The parameter probes come from each game's declaration (Game.PARAMETERS), so a new game, or
a new parameter, is swept with no change here. The last probe checks that after all of the
rejected calls the env still gives the results of a fresh one.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium
import numpy as np

import shoal

from .conftest import is_single_agent, make_small_vec, small_kwargs

Probe = tuple[str, str, str, tuple[str, ...], Callable[[], Any]]  # area, name, expect, names, call

#: Values no parameter takes: wrong types, non-finite and out-of-any-bound numbers.
NEVER_VALID: dict[str, Any] = {
    "a string": "x", "an object": object(), "a list": [1], "NaN": math.nan, "inf": math.inf,
    "-inf": -math.inf, "10**18": 10**18, "-10**18": -(10**18), "1e300": 1e300,
    "a complex": 1j, "a numpy array": np.array([1, 2]),
}
#: Values some parameters take.
MAYBE_VALID: dict[str, Any] = {"-1": -1, "0": 0, "0.5": 0.5, "True": True}


def make(env_id: str, **kwargs: Any) -> shoal.ShoalVectorEnv:
    """The suite's small env of 2 worlds (conftest), or the num_envs a probe gives."""
    if "num_envs" in kwargs:
        return gymnasium.make_vec(env_id, **{**small_kwargs(env_id), **kwargs})
    return make_small_vec(env_id, worlds=2, **kwargs)


def build_and_step(env_id: str, **kwargs: Any) -> None:
    """Accepted settings must give a working env: finite rewards, observations in the space."""
    envs = make(env_id, **kwargs)
    try:
        obs, _ = envs.reset(seed=0)
        envs.action_space.seed(0)
        for _ in range(5):
            obs, rewards, *_ = envs.step(envs.action_space.sample())
            assert envs.single_observation_space.contains(obs[0]), "observation left its space"
            assert np.isfinite(rewards).all(), "a reward is not finite"
    finally:
        envs.close()


def parameter_probes(env_id: str) -> Iterator[Probe]:
    for parameter in shoal.vector_env_class(env_id).game_class.PARAMETERS:
        name = parameter.name
        for label, value in NEVER_VALID.items():
            yield ("env arguments", f"{name}={label}", "refused", (name,),
                   lambda value=value: build_and_step(env_id, **{name: value}))
        if parameter.default is not None:
            yield ("env arguments", f"{name}=None", "refused", (name,),
                   lambda: build_and_step(env_id, **{name: None}))
        for label, value in MAYBE_VALID.items():
            yield ("env arguments", f"{name}={label}", "either", (name,),
                   lambda value=value: build_and_step(env_id, **{name: value}))


def shared_argument_probes(env_id: str) -> Iterator[Probe]:
    sizes = {"0": 0, "-1": -1, "10**9": 10**9, "2.5": 2.5, "'4'": "4", "None": None}
    for label, value in sizes.items():
        yield ("env arguments", f"num_envs={label}", "refused", ("num_envs",),
               lambda value=value: fails_fast(lambda: make(env_id, num_envs=value)))
    for label, value in {"0": 0, "-1": -1, "1000": 1000, "1.5": 1.5}.items():
        yield ("threads", f"num_threads={label}", "refused", ("num_threads",),
               lambda value=value: make(env_id, num_threads=value))
    yield ("threads", "num_threads=3", "accepted", (),
           lambda: build_and_step(env_id, num_threads=3))
    for label, value in {"0": 0, "'10'": "10", "NaN": math.nan, "2**63": 2**63}.items():
        yield ("env arguments", f"max_episode_steps={label}", "refused", ("max_episode_steps",),
               lambda value=value: make(env_id, max_episode_steps=value))
    yield ("env arguments", "an unknown keyword", "refused", ("colour",),
           lambda: make(env_id, colour="red"))


def fails_fast(call: Callable[[], Any]) -> None:
    """A size that is refused must be refused before anything is allocated: at once."""
    start = time.perf_counter()
    try:
        call()
    finally:
        assert time.perf_counter() - start < 2.0, "took over 2 s to refuse"


def action_probes(env_id: str) -> Iterator[Probe]:
    envs = make(env_id)
    envs.reset(seed=0)
    space = envs.action_space
    good = space.sample()
    n = envs.num_envs
    bad: dict[str, Any] = {
        "None": None, "a string": "left", "an object array": np.array([object()] * n),
        "a wrong shape": np.resize(good, (n + 1, *good.shape[1:])),
        "a 0-d array": np.asarray(good.flat[0]), "complex numbers": good.astype(np.complex64),
        "a nested list of strings": [["a"]] * n,
    }
    if isinstance(envs.single_action_space, gymnasium.spaces.Discrete):
        bad |= {"one past the last action": np.full(n, envs.single_action_space.n),
                "-1": np.full(n, -1), "fractions": np.full(n, 0.5)}
    else:
        outside = {"NaN": np.nan, "inf": np.inf, "-inf": -np.inf, "2 (above 1)": 2.0}
        for label, value in outside.items():
            values = good.copy()
            values.flat[0] = value
            bad[label] = values
    for label, action in bad.items():
        yield ("actions", label, "refused", ("action",), lambda action=action: envs.step(action))
    strided = np.repeat(good, 2, axis=0)[::2]
    read_only = good.copy()
    read_only.setflags(write=False)
    for label, action in {"a strided view": strided, "a read-only array": read_only,
                          "a list": good.tolist()}.items():
        yield ("actions", label, "accepted", (), lambda action=action: envs.step(action))
    yield ("actions", "close the env probed", "accepted", (), envs.close)


def seed_and_option_probes(env_id: str) -> Iterator[Probe]:
    envs = make(env_id)
    n = envs.num_envs
    seeds = {"-1": -1, "2**70": 2**70, "'a'": "a", "1.5": 1.5, "True": True,
             "a list one too long": list(range(n + 1)), "a list with -1": [-1] * n}
    for label, seed in seeds.items():
        yield ("seeds", f"seed={label}", "refused", ("seed",),
               lambda seed=seed: envs.reset(seed=seed))
    yield ("seeds", "a list of one seed per env", "accepted", (),
           lambda: envs.reset(seed=list(range(n))))
    options = {"unknown keys": {"difficulty": 3}, "a string": "abc",
               "a reset_mask that is a list": {"reset_mask": [True] * n},
               "a reset_mask of no rows": {"reset_mask": np.zeros(n, bool)}}
    for label, value in options.items():
        yield ("options", label, "refused", ("options",),
               lambda value=value: envs.reset(seed=0, options=value))
    yield ("options", "close the env probed", "accepted", (), envs.close)


def misuse_probes(env_id: str) -> Iterator[Probe]:
    fresh = make(env_id)
    action = fresh.action_space.sample()
    yield ("misuse", "step before reset", "refused", ("reset",), lambda: fresh.step(action))
    closed = make(env_id)
    closed.reset(seed=0)
    yield ("misuse", "close", "accepted", (), closed.close)
    yield ("misuse", "close twice", "accepted", (), closed.close)
    yield ("misuse", "step after close", "refused", ("close",), lambda: closed.step(action))
    yield ("misuse", "reset after close", "refused", ("close",), lambda: closed.reset(seed=0))
    yield ("misuse", "close the env probed", "accepted", (), fresh.close)


def render_probes(env_id: str) -> Iterator[Probe]:
    drawn = make(env_id, render_mode="rgb_array")
    yield ("rendering", "render before reset", "refused", ("reset",), drawn.render)
    yield ("rendering", "reset", "accepted", (), lambda: drawn.reset(seed=0))
    yield ("rendering", "render after reset", "accepted", (), drawn.render)
    yield ("rendering", "close", "accepted", (), drawn.close)
    yield ("rendering", "render after close", "refused", ("close",), drawn.render)
    yield ("rendering", 'render_mode="bogus"', "refused", ("render_mode",),
           lambda: make(env_id, render_mode="bogus"))
    yield ("rendering", 'render_view="sideways"', "refused", ("render_view",),
           lambda: make(env_id, render_view="sideways"))
    # No display in the sweep's process: the window is refused with the reason when it
    # would open (a human-mode reset draws the first frame).
    window = make(env_id, render_mode="human")
    yield ("rendering", 'render_mode="human" without a display', "refused", ("DISPLAY",),
           lambda: window.reset(seed=0))
    yield ("rendering", "close the window's env", "accepted", (), window.close)


def single_env_probes(env_id: str) -> Iterator[Probe]:
    if not is_single_agent(env_id):
        return
    env = gymnasium.make(env_id)
    for label, seed in {"-1": -1, "2**70": 2**70, "'a'": "a", "np.array(3)": np.array(3)}.items():
        yield ("single env", f"reset(seed={label})", "refused", ("seed",),
               lambda seed=seed: env.reset(seed=seed))
    env.reset(seed=0)
    actions = {"None": None, "a string": "left", "a wrong shape": np.zeros((2, 2))}
    for label, action in actions.items():
        yield ("single env", f"step({label})", "refused", ("action",),
               lambda action=action: env.step(action))
    yield ("single env", "close", "accepted", (), env.close)


def after_errors_probe(env_id: str) -> Iterator[Probe]:
    """Rejected calls change nothing: the probed env then matches a fresh one step for step."""
    def compare() -> None:
        probed, fresh = make(env_id), make(env_id)
        probed.reset(seed=5)
        for bad in (None, "x", np.zeros((probed.num_envs + 1, 7))):
            try:
                probed.step(bad)
            except (ValueError, TypeError):
                pass
        for bad_seed in (-1, "a"):
            try:
                probed.reset(seed=bad_seed)
            except (ValueError, TypeError):
                pass
        outputs = []
        for envs in (probed, fresh):
            obs, _ = envs.reset(seed=11)
            envs.action_space.seed(3)
            trace = [obs.copy()]
            for _ in range(30):
                obs, rewards, terminations, truncations, _ = envs.step(envs.action_space.sample())
                trace += [obs.copy(), rewards.copy(), terminations.copy(), truncations.copy()]
            outputs.append(trace)
            envs.close()
        assert all(np.array_equal(a, b) for a, b in zip(*outputs)), "the probed env diverged"
    yield ("after an error", "same results as a fresh env", "accepted", (), compare)


AREAS = (parameter_probes, shared_argument_probes, action_probes, seed_and_option_probes,
         misuse_probes, render_probes, single_env_probes, after_errors_probe)


def run_probe(area: str, name: str, expect: str, names: tuple[str, ...],
              call: Callable[[], Any]) -> dict:
    record: dict[str, Any] = {"area": area, "probe": name, "expect": expect, "names": list(names)}
    try:
        call()
    except Exception as error:  # noqa: BLE001 - the sweep records whatever comes out
        first_line = str(error).splitlines()[0][:300] if str(error) else ""
        record |= {"outcome": type(error).__name__, "message": first_line,
                   "value_or_type_error": isinstance(error, (ValueError, TypeError)),
                   "display_error": type(error).__name__ == "DisplayUnavailable"}
    else:
        record["outcome"] = "accepted"
    return record


def main(env_id: str) -> None:
    for area in AREAS:
        for probe in area(env_id):
            print(json.dumps(run_probe(*probe)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
