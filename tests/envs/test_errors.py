"""Bad input gets a clear error naming the argument, what was expected and what came; never a
crash and never a silent wrap-around."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import shoal

from .conftest import make_small_vec


def test_step_before_reset(env_id):
    envs = make_small_vec(env_id, worlds=1)
    with pytest.raises(shoal.ResetNeeded, match="before reset"):
        envs.step(envs.action_space.sample())
    assert isinstance(shoal.ResetNeeded("x"), ValueError)


def test_single_env_step_before_reset(single_env_id):
    env = gymnasium.make(single_env_id)
    with pytest.raises(gymnasium.error.ResetNeeded):  # Gymnasium's OrderEnforcing wrapper
        env.step(env.action_space.sample())
    with pytest.raises(shoal.ResetNeeded, match=r"Env.step\(\) was called before reset"):
        env.unwrapped.step(env.action_space.sample())  # shoal's own check


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.zeros((2, 2), np.int64), ValueError, r"actions must have shape \(2,\)"),
        (np.zeros(3, np.int64), ValueError, "shape"),
        (np.zeros(2, np.float32), TypeError, "integers"),
        (np.zeros(2, np.bool_), TypeError, "integers"),
        (np.array([0, 3]), ValueError, r"in \[0, 2\].*\[3\]"),
        (np.array([-1, 0]), ValueError, r"\[-1\]"),
        (np.array([0, 2**32 + 1]), ValueError, "4294967297"),  # would wrap to 1 in int32
        ("left", ValueError, "shape"),
    ],
)
def test_discrete_actions_are_checked(bad, error, message):
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=2)
    envs.reset(seed=0)
    with pytest.raises(error, match=message):
        envs.step(bad)
    envs.step(np.array([0, 2]))  # the env is still usable


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.array([[np.nan], [0.0]], np.float32), ValueError, "finite"),
        (np.array([[np.inf], [0.0]], np.float32), ValueError, "finite"),
        (np.array([[1.5], [0.0]], np.float32), ValueError, r"\[1.5\]"),
        (np.array([0.0, 0.0], np.float32), ValueError, r"shape \(2, 1\)"),
        (np.array([["a"], ["b"]]), TypeError, "real numbers"),
    ],
)
def test_box_actions_are_checked(bad, error, message):
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=2, continuous=True)
    envs.reset(seed=0)
    with pytest.raises(error, match=message):
        envs.step(bad)
    envs.step(np.zeros((2, 1), np.float32))


def test_single_env_action_is_checked():
    env = gymnasium.make("shoal/Snake-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be in \[0, 3\]"):
        env.step(4)
    with pytest.raises(TypeError, match="action must be integers"):
        env.step(1.0)
    with pytest.raises(ValueError, match="action must have shape"):
        env.step([1, 2])



def test_an_action_is_checked_once_on_every_path(monkeypatch):
    # The vector env, the single env and the PettingZoo adapter each check an action once,
    # then step through the vector env's one unchecked row step (advance).
    import shoal.parallel_env as parallel_env
    import shoal.single_env as single_env
    import shoal.vector_env as vector_env

    calls = []

    def counting(check):
        def checked(*args, **kwargs):
            calls.append(args[-1])
            return check(*args, **kwargs)
        return checked

    for module in (vector_env, single_env, parallel_env):
        monkeypatch.setattr(module, "check_actions", counting(module.check_actions))
    envs = gymnasium.make_vec("shoal/Snake-v0", num_envs=2)
    envs.reset(seed=0)
    envs.step(np.zeros(2, np.int32))
    env = gymnasium.make("shoal/Snake-v0").unwrapped
    env.reset(seed=0)
    env.step(0)
    world = parallel_env.ShoalParallelEnv("shoal/SnakeArena-v0")
    world.reset(seed=0)
    world.step({agent: 0 for agent in world.agents})
    assert calls == ["actions", "action", "actions"]


def test_the_wrapper_arguments_are_those_of_the_vector_env():
    import inspect

    from shoal.parallel_env import ADAPTER_ARGUMENTS
    from shoal.single_env import VECTOR_ARGUMENTS

    keywords = set(inspect.signature(shoal.ShoalVectorEnv.__init__).parameters) - {"self", "game_kwargs"}
    assert shoal.ShoalVectorEnv.WRAPPER_ARGUMENTS == keywords
    assert VECTOR_ARGUMENTS < keywords and ADAPTER_ARGUMENTS < keywords
    game = shoal.vector_env_class("shoal/Breakout-v0").game_for(num_envs=8, render_view="world",
                                                                paddle_width=80.0)
    assert game.paddle_width == 80.0

@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(num_envs=0), ValueError, r"num_envs must be in \[1"),
        (dict(num_envs=2.0), TypeError, "num_envs must be an int"),
        (dict(num_threads=0), ValueError, "num_threads"),
        (dict(max_episode_steps=0), ValueError, "max_episode_steps"),
        (dict(max_episode_steps="10"), TypeError, "max_episode_steps must be an int"),
        (dict(autoreset_mode="sometimes"), ValueError, "autoreset_mode must be one of"),
        (dict(render_mode="ansi"), ValueError, "render_mode must be one of"),
        (dict(render_env_index=2), ValueError, "render_env_index must be in"),
        (dict(render_view="top"), ValueError, "render_view must be one of"),
        (dict(copy="yes"), TypeError, "copy must be a bool"),
        (dict(no_such_parameter=1), TypeError, "no_such_parameter"),
    ],
)
def test_bad_shared_constructor_arguments(kwargs, error, message):
    num_envs = kwargs.pop("num_envs", 2)
    with pytest.raises(error, match=message):
        shoal.BreakoutVectorEnv(num_envs, **kwargs)


def test_autoreset_mode_spellings():
    for spelling in ("NextStep", "NEXT_STEP", "next_step", gymnasium.vector.AutoresetMode.NEXT_STEP):
        assert shoal.BreakoutVectorEnv(1, autoreset_mode=spelling).autoreset_mode.value == "NextStep"


def test_arena_rows_must_split_into_worlds():
    with pytest.raises(ValueError, match="multiple of the 4 agents per world"):
        gymnasium.make_vec("shoal/SnakeArena-v0", num_envs=6, snakes_per_arena=4,
                           width=20, height=14, num_food=4)


@pytest.mark.parametrize(
    "seed, error, message",
    [
        ([1, 2, 3], ValueError, "num_envs=2 entries, got 3"),
        (-1, ValueError, "seed must be in"),
        (2**64, ValueError, "seed must be in"),
        (1.5, TypeError, "seed must be None, an int or a list"),
        ([1, -2], ValueError, r"seed\[1\]"),
        (True, TypeError, "seed"),
    ],
)
def test_bad_seeds(seed, error, message):
    envs = gymnasium.make_vec("shoal/Snake-v0", num_envs=2)
    with pytest.raises(error, match=message):
        envs.reset(seed=seed)


def test_seed_list_with_none_keeps_that_stream():
    envs = gymnasium.make_vec("shoal/Snake-v0", num_envs=2)
    first, _ = envs.reset(seed=[10, 20])
    second, _ = envs.reset(seed=[10, None])
    np.testing.assert_array_equal(first[0], second[0])


def test_threads_without_openmp_warn_and_still_work(monkeypatch):
    import shoal.vector_env

    monkeypatch.setattr(shoal.vector_env, "openmp_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="without OpenMP"):
        envs = shoal.BreakoutVectorEnv(4, num_threads=2)
    envs.reset(seed=0)
    envs.step(np.zeros(4, np.int64))


def test_reward_parameters_that_would_overflow_float32_are_refused():
    with pytest.raises(ValueError, match=r"reward_scale must be in \[0.0, 1000000.0\]"):
        gymnasium.make_vec("shoal/Breakout-v0", num_envs=2, reward_scale=1e39)
    with pytest.raises(ValueError, match="reward_food"):
        gymnasium.make_vec("shoal/Snake-v0", num_envs=2, reward_food=1e7)
    with pytest.raises(ValueError, match="reward_death"):
        gymnasium.make_vec("shoal/Snake-v0", num_envs=2, reward_death=float("-inf"))


def test_numpy_bools_are_bools():
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=2, continuous=np.True_,
                              copy=np.False_)
    assert envs.game.continuous is True and envs.copy is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_episode_steps=2**63), "max_episode_steps must be in"),
        (dict(num_envs=2**25), "num_envs must be in"),
    ],
)
def test_sizes_beyond_the_native_types_are_refused(kwargs, message):
    num_envs = kwargs.pop("num_envs", 2)
    with pytest.raises(ValueError, match=message):
        shoal.BreakoutVectorEnv(num_envs, **kwargs)


@pytest.mark.parametrize("argument", ["autoreset_mode", "num_threads", "copy", "num_envs"])
def test_single_env_refuses_vector_arguments_by_name(argument):
    with pytest.raises(TypeError, match=f"does not take \\['{argument}'\\].*make_vec"):
        gymnasium.make("shoal/Snake-v0", **{argument: 1})


def test_single_env_accepts_numpy_integer_seeds():
    env = gymnasium.make("shoal/Snake-v0").unwrapped
    first, _ = env.reset(seed=np.int64(7))
    second, _ = env.reset(seed=7)
    np.testing.assert_array_equal(first, second)
    with pytest.raises(TypeError, match="seed must be None or an int"):
        env.reset(seed=7.0)


def test_vector_only_id_has_a_serialisable_spec():
    spec = gymnasium.spec("shoal/SnakeArena-v0")
    assert gymnasium.envs.registration.EnvSpec.from_json(spec.to_json()).id == spec.id
    with pytest.raises(TypeError, match="make_vec"):
        gymnasium.make_vec("shoal/SnakeArena-v0", num_envs=256, vectorization_mode="sync")


# ---- the core's own boundary: it keeps raw pointers, so it refuses anything but exact arrays


def test_core_binds_only_exact_contiguous_arrays():
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=64)
    envs.reset(seed=0)
    core = envs.core
    with pytest.raises(ValueError, match="C-contiguous"):
        core.bind_observations(np.zeros((128, 117), np.float32)[::2])
    with pytest.raises(ValueError, match="must hold"):
        core.bind_observations(np.zeros((63, 117), np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        core.bind_observations([0.0] * (64 * 117))
    read_only = np.zeros((64, 117), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        core.bind_observations(read_only)
    buffers = envs.buffers
    arrays = [buffers.observations, buffers.final_observations, buffers.actions, buffers.rewards,
              buffers.terminations, buffers.truncations, buffers.episode_ended,
              buffers.awaiting_reset, buffers.episode_stats]
    bad_actions = list(arrays)
    bad_actions[2] = np.zeros(64, np.uint8)  # 64 bytes where the core reads 256
    with pytest.raises(ValueError, match="actions must be int32 or float32"):
        core.bind(*bad_actions)
    bad_rewards = list(arrays)
    bad_rewards[3] = np.zeros(64, np.float64)
    with pytest.raises(ValueError, match="rewards must have dtype float32"):
        core.bind(*bad_rewards)
    envs.step(np.zeros(64, np.int64))  # the env is untouched by the refused calls


@pytest.mark.parametrize(
    "seed, error, message",
    [
        (-1, ValueError, "seed must be in"),
        (2**70, ValueError, "seed must be in"),
        ("a", TypeError, "seed must be None or an int, got 'a'"),
        (np.array(3), TypeError, "pass int"),
    ],
)
def test_single_env_bad_seeds_are_the_vector_envs_errors(single_env_id, seed, error, message):
    """Checked before Gymnasium's own seeding, which would raise gymnasium.error.Error."""
    env = gymnasium.make(single_env_id)
    with pytest.raises(error, match=message):
        env.reset(seed=seed)
    first, _ = env.reset(seed=5)  # a rejected call leaves the env as good as new
    again, _ = gymnasium.make(single_env_id).reset(seed=5)
    np.testing.assert_array_equal(first, again)


def test_options_that_are_not_a_dict_are_named(env_id):
    with pytest.raises(TypeError, match="options must be None or a dict, got 'abc'"):
        make_small_vec(env_id).reset(options="abc")
    if gymnasium.spec(env_id).entry_point != shoal.VECTOR_ONLY_ENTRY_POINT:
        with pytest.raises(TypeError, match="options must be None or a dict"):
            gymnasium.make(env_id).reset(options="abc")


def test_pickling_an_env_is_a_clear_type_error(env_id):
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled: its state lives in native memory"):
        pickle.dumps(make_small_vec(env_id))
    if gymnasium.spec(env_id).entry_point != shoal.VECTOR_ONLY_ENTRY_POINT:
        env = gymnasium.make(env_id)
        with pytest.raises(TypeError, match=f"{type(env.unwrapped).__name__} cannot be pickled"):
            pickle.dumps(env.unwrapped)


def test_single_env_errors_name_the_single_env_class():
    env = gymnasium.make("shoal/Breakout-v0", render_mode="rgb_array").unwrapped
    with pytest.raises(shoal.ResetNeeded, match=r"^BreakoutEnv\.render\(\) was called before reset"):
        env.render()


def test_an_env_class_names_both_its_game_and_its_presentation():
    from shoal.breakout import BreakoutGame

    with pytest.raises(TypeError, match="must name both game= and presentation="):
        class HalfNamed(shoal.ShoalVectorEnv, game=BreakoutGame):
            pass
