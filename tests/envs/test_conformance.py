"""Conformance of every registered id with the Gymnasium API: the suite every game gets free.

The reference for the vector semantics is Gymnasium itself: for single-agent games the native
vector env must match `SyncVectorEnv` over the same single envs, step for step, in every
autoreset mode.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import shoal
from shoal._ext.core import openmp_available

from .conftest import make_small_vec, random_actions, rows_per_world, small_kwargs

MODES = list(AutoresetMode)


def in_space(space: gymnasium.spaces.Box, batch: np.ndarray) -> bool:
    return batch.dtype == space.dtype and bool(np.all(batch >= space.low) and np.all(batch <= space.high))


# ---- registry ----


def test_make_vec_returns_the_native_env_with_its_mode(env_id):
    for mode in MODES:
        envs = make_small_vec(env_id, autoreset_mode=mode)
        assert isinstance(envs, shoal.ShoalVectorEnv)
        assert not isinstance(envs, gymnasium.vector.SyncVectorEnv)
        assert envs.metadata["autoreset_mode"] is mode
        assert envs.autoreset_mode is mode
        envs.close()


def test_make_vec_accepts_the_shared_kwargs(env_id):
    envs = make_small_vec(env_id, max_episode_steps=7, num_threads=2, render_mode=None)
    assert envs.max_episode_steps == 7 and envs.num_threads == 2
    envs.close()


def test_registered_ids_declare_both_entry_points(env_id):
    spec = gymnasium.spec(env_id)
    assert spec.vector_entry_point is not None and spec.entry_point is not None


def test_vector_only_id_refuses_make_and_names_make_vec():
    with pytest.raises(TypeError, match="make_vec"):
        gymnasium.make("shoal/SnakeArena-v0")


# ---- single env ----


def test_single_env_passes_check_env_without_warnings(single_env_id, display):
    # With its render checks: every render mode, the raylib window ("human") included.
    env = gymnasium.make(single_env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_single_env_is_row_i_of_the_vector_env_seeded_with_seed_plus_i(single_env_id):
    envs = make_small_vec(single_env_id, worlds=3, max_episode_steps=None,
                          autoreset_mode=AutoresetMode.DISABLED)
    observations, _ = envs.reset(seed=40)
    actions = random_actions(envs, 60, seed=1)
    singles = [gymnasium.make(single_env_id, max_episode_steps=None).unwrapped for _ in range(3)]
    for row, env in enumerate(singles):
        obs, _ = env.reset(seed=40 + row)
        np.testing.assert_array_equal(obs, observations[row])
    done = np.zeros(3, bool)
    for batch in actions:
        observations, rewards, terminations, truncations, _ = envs.step(batch)
        for row, env in enumerate(singles):
            if done[row]:
                continue
            obs, reward, terminated, truncated, _ = env.step(batch[row])
            np.testing.assert_array_equal(obs, observations[row])
            assert reward == rewards[row] and terminated == terminations[row]
            done[row] = terminated
        if done.any():
            break  # DISABLED mode: a finished row must be reset before stepping again


def test_single_env_reports_episode_stats_at_the_episode_end(single_env_id):
    # No time limit from the wrapper: the episode ends by the game's rules (a termination, or
    # a truncation the game sets itself, like Maze's step limit).
    env = gymnasium.make(single_env_id, max_episode_steps=None).unwrapped
    env.reset(seed=3)
    env.action_space.seed(3)
    total, steps = 0.0, 0
    for _ in range(100_000):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert terminated or truncated, "a random policy should end the episode"
    stats = info["episode_stats"]
    assert stats["length"] == steps and stats["return"] == pytest.approx(total, rel=1e-5)
    for name in env.game.stat_names:
        assert name in stats
    with pytest.raises(shoal.ResetNeeded, match="reset"):
        env.step(env.action_space.sample())


# ---- autoreset: the native vector env against Gymnasium's SyncVectorEnv ----


@pytest.mark.parametrize("mode", MODES)
def test_vector_env_matches_sync_vector_env(single_env_id, mode):
    num_envs, limit = 4, 25
    native = gymnasium.make_vec(single_env_id, num_envs=num_envs, max_episode_steps=limit,
                                autoreset_mode=mode)
    reference = gymnasium.make_vec(single_env_id, num_envs=num_envs, max_episode_steps=limit,
                                   vectorization_mode="sync",
                                   vector_kwargs={"autoreset_mode": mode})
    obs_n, _ = native.reset(seed=7)
    obs_r, _ = reference.reset(seed=7)
    np.testing.assert_array_equal(obs_n, obs_r)
    endings = 0
    for actions in random_actions(native, 120, seed=5):
        if mode is AutoresetMode.DISABLED:
            done = reference._autoreset_envs
            if done.any():
                obs_n, _ = native.reset(options={"reset_mask": done.copy()})
                obs_r, _ = reference.reset(options={"reset_mask": done.copy()})
                np.testing.assert_array_equal(obs_n, obs_r)
        obs_n, rew_n, term_n, trunc_n, info_n = native.step(actions)
        obs_r, rew_r, term_r, trunc_r, info_r = reference.step(actions)
        np.testing.assert_array_equal(obs_n, obs_r)
        np.testing.assert_array_equal(rew_n, rew_r.astype(np.float32))
        np.testing.assert_array_equal(term_n, term_r)
        np.testing.assert_array_equal(trunc_n, trunc_r)
        ended = term_n | trunc_n
        endings += ended.sum()
        if mode is AutoresetMode.SAME_STEP and ended.any():
            np.testing.assert_array_equal(info_n["_final_obs"], info_r["_final_obs"])
            np.testing.assert_array_equal(info_n["_final_info"], info_r["_final_info"])
            for row in np.flatnonzero(ended):
                np.testing.assert_array_equal(info_n["final_obs"][row], info_r["final_obs"][row])
            assert all(info_n["final_obs"][row] is None for row in np.flatnonzero(~ended))
        # The single env reports its episode statistics at termination (the TimeLimit wrapper
        # truncates outside it); the vector env reports them at every ending.
        if term_n.any():
            stats_r = info_r["final_info"]["episode_stats"] if mode is AutoresetMode.SAME_STEP \
                else info_r["episode_stats"]
            layouts = [info_n["episode_stats"]]
            if mode is AutoresetMode.SAME_STEP:  # also where Gymnasium puts the ending info
                layouts.append(info_n["final_info"]["episode_stats"])
            for row in np.flatnonzero(term_n & ~trunc_n):
                for name in native.stat_names:
                    for stats_n in layouts:
                        assert stats_n[name][row] == pytest.approx(stats_r[name][row])
        if ended.any():
            np.testing.assert_array_equal(info_n["_episode_stats"], ended)
            np.testing.assert_array_equal(info_n["episode_stats"]["length"][ended] <= limit, True)
    assert endings > 0, "the comparison must cover episode endings"
    native.close()
    reference.close()


@pytest.mark.parametrize("mode", MODES)
def test_autoreset_modes_on_every_id(env_id, mode):
    """The per-row contract of each mode, checked on every id (multi-agent ones included)."""
    envs = make_small_vec(env_id, worlds=2, max_episode_steps=6, autoreset_mode=mode)
    envs.reset(seed=1)
    previous_ended = np.zeros(envs.num_envs, bool)
    for actions in random_actions(envs, 40, seed=2):
        if mode is AutoresetMode.DISABLED and previous_ended.any():
            with pytest.raises(shoal.ResetNeeded, match="reset_mask"):
                envs.step(actions)
            envs.reset(options={"reset_mask": previous_ended})
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        ended = terminations | truncations
        if mode is AutoresetMode.NEXT_STEP:
            # A row that ended on the previous step is reset on this one: no reward, no ending.
            assert np.all(rewards[previous_ended] == 0)
            assert not ended[previous_ended].any()
        if mode is AutoresetMode.SAME_STEP and ended.any():
            assert set(infos) >= {"final_obs", "_final_obs", "final_info", "_final_info"}
            for row in np.flatnonzero(ended):
                assert infos["final_obs"][row].shape == envs.single_observation_space.shape
        if ended.any():
            np.testing.assert_array_equal(infos["_episode_stats"], ended)
            for name in envs.stat_names:
                assert np.all(infos["episode_stats"][name][~ended] == 0), name
                np.testing.assert_array_equal(infos["episode_stats"][f"_{name}"], ended)
        else:
            assert without_action_masks(infos) == {}
        check_action_masks(envs, infos)
        # The time limit is a truncation, counted per row.
        assert np.all(infos.get("episode_stats", {}).get("length", np.zeros(1)) <= 6)
        previous_ended = ended
    envs.close()


# ---- data returned ----


def without_action_masks(infos: dict) -> dict:
    return {key: value for key, value in infos.items() if key not in ("action_mask", "_action_mask")}


def check_action_masks(envs, infos: dict) -> None:
    """Games with action masks give one per row on every reset and step, all rows marked."""
    if envs.core.action_mask_size == 0:
        assert "action_mask" not in infos
        return
    masks = infos["action_mask"]
    assert masks.dtype == np.bool_ and masks.shape == (envs.num_envs, envs.single_action_space.n)
    assert infos["_action_mask"].all() and infos["_action_mask"].shape == (envs.num_envs,)


def test_dtypes_shapes_and_spaces(env_id):
    envs = make_small_vec(env_id, worlds=2, max_episode_steps=20)
    n = envs.num_envs
    obs, info = envs.reset(seed=0)
    assert without_action_masks(info) == {}
    check_action_masks(envs, info)
    assert obs.shape == (n, *envs.single_observation_space.shape)
    assert envs.observation_space.shape == obs.shape
    assert in_space(envs.single_observation_space, obs)
    for actions in random_actions(envs, 60, seed=0):
        assert envs.action_space.contains(actions)
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        assert in_space(envs.single_observation_space, obs)
        assert rewards.shape == (n,) and rewards.dtype == np.float32 and np.isfinite(rewards).all()
        assert terminations.dtype == np.bool_ and truncations.dtype == np.bool_
        if "episode_stats" in infos:
            stats = infos["episode_stats"]
            assert stats["length"].dtype == np.int64 and stats["return"].dtype == np.float64
            assert set(stats) == {*envs.stat_names, *(f"_{k}" for k in envs.stat_names)}
    envs.close()


def test_returned_arrays_are_copies_unless_copy_is_false(env_id):
    envs = make_small_vec(env_id, worlds=1)
    first, _ = envs.reset(seed=0)
    second, *_ = envs.step(envs.action_space.sample())
    assert not np.shares_memory(first, second)
    envs.close()
    envs = make_small_vec(env_id, worlds=1, copy=False)
    first, _ = envs.reset(seed=0)
    second, *_ = envs.step(envs.action_space.sample())
    assert np.shares_memory(first, second)
    envs.close()


# ---- seeding ----


def trajectory(env_id: str, seed, steps: int = 50, worlds: int = 2, **kwargs) -> list[np.ndarray]:
    envs = make_small_vec(env_id, worlds=worlds, **kwargs)
    out = [envs.reset(seed=seed)[0]]
    for actions in random_actions(envs, steps, seed=11):
        if envs.autoreset_mode is AutoresetMode.DISABLED and envs.buffers.awaiting_reset.any():
            out.append(envs.reset(options={"reset_mask": envs.buffers.awaiting_reset.copy()})[0])
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        out += [obs, rewards, terminations, truncations]
        if "final_obs" in infos:
            out += [infos["final_obs"][row] for row in np.flatnonzero(infos["_final_obs"])]
        if "episode_stats" in infos:
            out += [infos["episode_stats"][name] for name in envs.stat_names]
    envs.close()
    return out


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_same_seed_same_trajectory_different_seed_different(env_id):
    assert same(trajectory(env_id, 123), trajectory(env_id, 123))
    assert not same(trajectory(env_id, 123), trajectory(env_id, 124))
    rows = make_small_vec(env_id, worlds=2).num_envs
    assert same(trajectory(env_id, 123), trajectory(env_id, [123 + i for i in range(rows)]))


def test_reset_without_seed_continues_the_stream(env_id):
    envs = make_small_vec(env_id, worlds=2)
    first, _ = envs.reset(seed=5)
    again, _ = envs.reset()
    reseeded, _ = envs.reset(seed=5)
    np.testing.assert_array_equal(first, reseeded)
    assert not np.array_equal(first, again), "reset() without a seed must not replay the seed"
    envs.close()


def test_unseeded_envs_differ(env_id):
    assert not same(trajectory(env_id, None), trajectory(env_id, None))


@pytest.mark.parametrize("mode", MODES)
def test_results_do_not_depend_on_the_thread_count(env_id, mode):
    def run(threads: int) -> list[np.ndarray]:
        return trajectory(env_id, 9, steps=80, worlds=13, num_threads=threads,
                          max_episode_steps=15, autoreset_mode=mode)

    one = run(1)
    assert all(same(one, run(threads)) for threads in (2, 3, 8))


# ---- reset_mask ----


def test_reset_mask_resets_only_the_masked_rows(env_id):
    envs = make_small_vec(env_id, worlds=3, autoreset_mode=AutoresetMode.DISABLED)
    before, _ = envs.reset(seed=0)
    per_world = rows_per_world(env_id)
    mask = np.zeros(envs.num_envs, bool)
    mask[per_world:2 * per_world] = True  # the whole second world
    after, info = envs.reset(options={"reset_mask": mask})
    assert without_action_masks(info) == {}
    np.testing.assert_array_equal(after[~mask], before[~mask])
    # The masked rows start new episodes from their continuing streams (seed 0 is fixed, so
    # this is deterministic).
    assert not np.array_equal(after[mask], before[mask])
    envs.close()


def test_reset_mask_errors():
    envs = gymnasium.make_vec("shoal/Snake-v0", num_envs=2)
    with pytest.raises(shoal.ResetNeeded, match="full reset"):
        envs.reset(options={"reset_mask": np.ones(2, bool)})
    envs.reset(seed=0)
    with pytest.raises(TypeError, match="numpy array"):
        envs.reset(options={"reset_mask": [True, False]})
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        envs.reset(options={"reset_mask": np.ones(3, bool)})
    with pytest.raises(TypeError, match="dtype bool"):
        envs.reset(options={"reset_mask": np.ones(2, np.int64)})
    with pytest.raises(ValueError, match="at least one True"):
        envs.reset(options={"reset_mask": np.zeros(2, bool)})
    with pytest.raises(ValueError, match="unknown keys"):
        envs.reset(options={"bogus": 1})


# ---- close ----


def test_close_is_idempotent_and_final(env_id):
    envs = make_small_vec(env_id, worlds=1)
    envs.reset(seed=0)
    envs.close()
    envs.close()
    with pytest.raises(shoal.ClosedEnvironmentError, match="close"):
        envs.step(envs.action_space.sample())
    with pytest.raises(shoal.ClosedEnvironmentError):
        envs.reset()


def test_single_env_close_is_idempotent_and_final(single_env_id):
    env = gymnasium.make(single_env_id).unwrapped
    env.reset(seed=0)
    env.close()
    env.close()
    with pytest.raises(shoal.ClosedEnvironmentError):
        env.step(env.action_space.sample())


# ---- Gymnasium's own wrappers work around shoal envs unchanged ----


def test_gymnasium_single_wrappers(single_env_id):
    env = gymnasium.make(single_env_id, max_episode_steps=30)
    env = gymnasium.wrappers.RecordEpisodeStatistics(env)
    env = gymnasium.wrappers.FlattenObservation(env)
    env = gymnasium.wrappers.TransformReward(env, lambda r: 2 * r)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(200):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            assert info["episode"]["l"] <= 30
            env.reset()
    env.close()


def test_gymnasium_vector_wrappers(env_id):
    envs = make_small_vec(env_id, worlds=2, max_episode_steps=10)
    envs = gymnasium.wrappers.vector.RecordEpisodeStatistics(envs)
    envs = gymnasium.wrappers.vector.NormalizeReward(envs)
    envs = gymnasium.wrappers.vector.DtypeObservation(envs, np.float32)
    envs.reset(seed=0)
    seen_episode = False
    for actions in random_actions(envs, 40, seed=0):
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        assert obs.dtype == np.float32
        if "episode" in infos:
            seen_episode = True
            assert np.all(infos["episode"]["l"][infos["_episode"]] <= 10)
    assert seen_episode
    envs.close()


def test_arrays_returned_are_never_written_again(env_id):
    """copy=True: later steps and resets (even a partial reset_mask) leave what the user holds."""
    envs = make_small_vec(env_id, worlds=2, autoreset_mode=AutoresetMode.DISABLED,
                          max_episode_steps=1000)
    held_reset, _ = envs.reset(seed=0)
    snapshot_reset = held_reset.copy()
    held_step, rewards, *_ = envs.step(envs.action_space.sample())
    snapshot_step, snapshot_rewards = held_step.copy(), rewards.copy()
    mask = np.zeros(envs.num_envs, bool)
    mask[0] = True
    after_reset, _ = envs.reset(options={"reset_mask": mask})
    np.testing.assert_array_equal(after_reset[1:], snapshot_step[1:])
    for _ in range(3):
        if envs.buffers.awaiting_reset.any():
            envs.reset(options={"reset_mask": envs.buffers.awaiting_reset.copy()})
        envs.step(envs.action_space.sample())
    np.testing.assert_array_equal(held_reset, snapshot_reset)
    np.testing.assert_array_equal(held_step, snapshot_step)
    np.testing.assert_array_equal(rewards, snapshot_rewards)
    envs.close()


# ---- seeding edge cases ----


def test_first_reset_with_unseeded_rows_draws_fresh_entropy():
    # Rows without a seed on the very first reset must still get a proper stream (a PCG32 that
    # was never seeded is stuck at zero); run in a child so a regression fails, not hangs.
    code = (
        "import gymnasium, numpy as np, shoal\n"
        "def run():\n"
        "    envs = gymnasium.make_vec('shoal/Breakout-v0', num_envs=4)\n"
        "    first, _ = envs.reset(seed=[None, None, 5, None])\n"
        "    return first\n"
        "a, b = run(), run()\n"
        "assert not np.array_equal(a[0], a[1]), 'unseeded rows are identical'\n"
        "assert not np.array_equal(a[0], b[0]), 'two fresh envs are identical'\n"
        "np.testing.assert_array_equal(a[2], b[2])\n"
        "arena = gymnasium.make_vec('shoal/Snake-v0', num_envs=2, width=5, height=5)\n"
        "arena.reset(seed=[None, None])\n"
        "arena.step(np.zeros(2, np.int64))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


# ---- SAME_STEP in a world of many agents ----


def test_same_step_final_observations_precede_every_respawn():
    """When several snakes of one arena end on the same step, each final observation is the
    world before any of them respawned: the same as NEXT_STEP's observation of that step."""
    kwargs = dict(snakes_per_arena=8, width=8, height=8, num_food=4, vision=2)
    checked = 0
    for seed in range(200):
        runs = {}
        for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            envs = gymnasium.make_vec("shoal/SnakeArena-v0", num_envs=8, autoreset_mode=mode,
                                      **kwargs)
            envs.reset(seed=seed)
            envs.action_space.seed(seed)
            for _ in range(100):
                obs, _, terminations, truncations, infos = envs.step(envs.action_space.sample())
                if (terminations | truncations).any():
                    runs[mode] = (obs, terminations | truncations, infos)
                    break
        if AutoresetMode.NEXT_STEP not in runs:
            continue
        last_obs, ended, _ = runs[AutoresetMode.NEXT_STEP]
        _, ended_same, infos = runs[AutoresetMode.SAME_STEP]
        np.testing.assert_array_equal(ended, ended_same)
        if ended.sum() < 2:
            continue
        for row in np.flatnonzero(ended):
            np.testing.assert_array_equal(infos["final_obs"][row], last_obs[row])
        checked += 1
    assert checked >= 3, "the seeds must cover steps on which several snakes end"


# ---- fork ----


def _step_in_child(queue) -> None:
    envs = gymnasium.make_vec("shoal/Snake-v0", num_envs=64, num_threads=2)
    envs.reset(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(10):
            obs, *_ = envs.step(np.zeros(64, np.int64))
    queue.put((obs.sum(), [str(w.message) for w in caught]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_steps_threaded_envs_without_hanging():
    parent = gymnasium.make_vec("shoal/Snake-v0", num_envs=64, num_threads=2)
    parent.reset(seed=0)
    for _ in range(10):
        expected, *_ = parent.step(np.zeros(64, np.int64))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, Python 3.12+
        child = context.Process(target=_step_in_child, args=(queue,))
        child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung stepping with num_threads=2")
    total, messages = queue.get(timeout=5)
    assert total == expected.sum()  # one thread gives the same results
    if openmp_available():
        assert any("forked" in message for message in messages)
