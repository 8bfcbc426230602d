"""Random parameters and action sequences never crash; observations stay in the space,
rewards stay finite, episode statistics stay within their bounds (hypothesis)."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from gymnasium.vector import AutoresetMode

import shoal

from .conftest import rows_per_world

# Per id: a strategy for the game's parameters, and the bounds of its statistics given them.
PARAMETERS = {
    "shoal/Breakout-v0": st.fixed_dictionaries(
        {
            "frameskip": st.integers(1, 8),
            "continuous": st.booleans(),
            "reward_scale": st.floats(0.0, 10.0),
        }
    ),
    "shoal/Snake-v0": st.fixed_dictionaries(
        {
            "width": st.integers(3, 24),
            "height": st.integers(3, 24),
            "num_food": st.integers(1, 4),
            "vision": st.integers(1, 6),
            "reward_step": st.floats(-0.1, 0.1),
        }
    ),
    "shoal/2048-v0": st.fixed_dictionaries(
        {
            "reward_mode": st.sampled_from(["exponent", "score"]),
            "reward_scale": st.floats(0.0, 10.0),
            "invalid_move_penalty": st.floats(0.0, 1.0),
        }
    ),
    "shoal/Maze-v0": st.tuples(st.integers(2, 10), st.integers(0, 6)).flatmap(
        lambda cells: st.fixed_dictionaries(
            {
                "min_size": st.just(2 * cells[0] + 1),
                "max_size": st.just(2 * (cells[0] + cells[1]) + 1),
                "vision": st.integers(1, 8),
                "split": st.sampled_from(["train", "test", "all"]),
                "moves": st.sampled_from(["absolute", "relative"]),
                "steps_per_tile": st.floats(0.05, 3.0),
                "step_penalty": st.floats(0.0, 0.1),
            }
        )
    ),
    "shoal/Drone-v0": st.fixed_dictionaries(
        {
            "task": st.sampled_from(["hover", "race"]),
            "num_gates": st.integers(3, 8),
            "gate_size": st.floats(0.2, 1.5),
            "substeps": st.integers(1, 16),
            "randomize": st.one_of(st.none(), st.just({"mass": (0.025, 0.03),
                                                        "drag": (0.0, 0.01)})),
        }
    ),
    "shoal/MMO-v0": st.fixed_dictionaries(
        {
            "width": st.integers(32, 48),
            "height": st.integers(32, 48),
            "agents_per_world": st.integers(1, 24),
            "npcs_per_world": st.integers(0, 40),
            "pvp": st.booleans(),
            "reward_death": st.floats(0.0, 2.0),
        }
    ),
    # Arenas as crowded as the parameter checks allow: snakes and food fill up to every cell.
    "shoal/SnakeArena-v0": st.tuples(st.integers(3, 30), st.integers(3, 20)).flatmap(
        lambda size: st.integers(1, min(12, size[0] * size[1] - 1)).flatmap(
            lambda snakes: st.fixed_dictionaries(
                {
                    "width": st.just(size[0]),
                    "height": st.just(size[1]),
                    "snakes_per_arena": st.just(snakes),
                    "num_food": st.integers(1, size[0] * size[1] - snakes),
                    "vision": st.integers(1, 4),
                    "leave_corpse": st.booleans(),
                }
            )
        )
    ),
}


def stat_bounds(env_id: str, params: dict) -> dict[str, tuple[float, float]]:
    if env_id == "shoal/Breakout-v0":
        return {"score": (0, 864), "perf": (0.0, 1.0)}
    if env_id == "shoal/2048-v0":
        # The largest tile 2^17 needs merges worth less than 17 * 2^17 points in all.
        return {"score": (0, 17 * 2**17), "max_tile": (2, 2**17)}
    if env_id == "shoal/Drone-v0":
        # At most 40 steps (max_episode_steps below) of 0.02 s: 0.8 s of flight.
        return {"gates": (0, 40), "hold_time": (0.0, 0.8), "reach_time": (0.0, 0.8),
                "hover_error": (0.0, 20.0), "crashed": (0, 1)}
    if env_id == "shoal/MMO-v0":
        # At most 40 steps a life (max_episode_steps below): levels grow slowly; 40 blows.
        return {"lifetime": (0, 40), **{skill: (1, 10) for skill in
                                        ("melee", "ranged", "foraging", "fishing", "mining")},
                "best_item": (0, 10), "npc_kills": (0, 40), "agent_kills": (0, 40)}
    if env_id == "shoal/Maze-v0":
        return {"success": (0, 1), "optimality": (0.0, 1.0),
                "size": (params["min_size"], params["max_size"])}
    # A snake that found no free cell to spawn in ends its episode with length 0.
    lowest = 1 if env_id == "shoal/Snake-v0" else 0
    return {"score": (lowest, params["width"] * params["height"])}


def run(env_id: str, params: dict, worlds: int, mode: AutoresetMode, threads: int, seed: int,
        steps: int) -> None:
    rows = worlds * rows_per_world(env_id, **params)
    envs = gymnasium.make_vec(env_id, num_envs=rows, autoreset_mode=mode, num_threads=threads,
                              max_episode_steps=40, **params)
    space = envs.single_observation_space
    obs, _ = envs.reset(seed=seed)
    assert np.all((obs >= space.low) & (obs <= space.high))
    envs.action_space.seed(seed)
    bounds = stat_bounds(env_id, params)
    for _ in range(steps):
        ended_before = envs.buffers.awaiting_reset.copy()
        if mode is AutoresetMode.DISABLED and ended_before.any():
            obs, _ = envs.reset(options={"reset_mask": ended_before})
        obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
        assert obs.dtype == space.dtype
        assert np.all((obs >= space.low) & (obs <= space.high)), "observation left its space"
        assert np.isfinite(rewards).all()
        if "episode_stats" in infos:
            stats, ended = infos["episode_stats"], infos["_episode_stats"]
            assert np.all(stats["length"][ended] >= 1) and np.all(stats["length"][ended] <= 40)
            for name, (low, high) in bounds.items():
                values = stats[name][ended]
                assert np.all((values >= low) & (values <= high)), (name, values)
    envs.close()


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_parameters_and_actions(env_id, data):
    params = data.draw(PARAMETERS[env_id], label="params")
    run(
        env_id,
        params,
        worlds=data.draw(st.integers(1, 3), label="worlds"),
        mode=data.draw(st.sampled_from(list(AutoresetMode)), label="mode"),
        threads=data.draw(st.integers(1, 3), label="threads"),
        seed=data.draw(st.integers(0, 2**32), label="seed"),
        steps=data.draw(st.integers(1, 120), label="steps"),
    )


ACTION_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64, np.float16,
                 np.float32, np.float64, np.bool_, np.complex64]


@pytest.mark.parametrize("continuous", [False, True])
@settings(max_examples=150, deadline=None)
@given(
    dtype=st.sampled_from(ACTION_DTYPES),
    shape=st.sampled_from([(), (3,), (4,), (4, 1), (1, 4), (4, 2), (8,)]),
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1,
                    max_size=8),
    strided=st.booleans(),
)
def test_any_action_array_is_stepped_or_refused_clearly(continuous, dtype, shape, values, strided):
    """Whatever array comes in, step() either accepts it (exactly when it lies in the action
    space) or raises ValueError/TypeError; the env stays usable either way."""
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=4, continuous=continuous)
    envs.reset(seed=0)
    size = int(np.prod(shape))
    raw = np.resize(np.array(values, dtype=np.float64), size * (2 if strided else 1))
    with np.errstate(all="ignore"):
        actions = raw.astype(dtype, casting="unsafe")
    if strided:
        actions = actions[::2]
    actions = actions.reshape(shape)
    valid = envs.action_space.contains(actions) if actions.dtype.kind in "iuf" else False
    try:
        envs.step(actions)
        accepted = True
    except (ValueError, TypeError):
        accepted = False
    if accepted:
        assert actions.shape == envs.action_space.shape
        if valid:
            pass
        else:  # accepted though Gymnasium's contains() says no: only a dtype difference
            as_space = actions.astype(envs.action_space.dtype)
            assert np.array_equal(as_space, actions) and envs.action_space.contains(as_space)
    else:
        assert not valid
    envs.step(envs.action_space.sample())  # still usable
