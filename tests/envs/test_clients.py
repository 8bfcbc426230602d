"""Third-party clients users bring, used unchanged: TorchRL's GymWrapper and Stable-Baselines3.
What works and what does not, and why, is in docs/api.md ("Using shoal from other
libraries"); these tests hold the working modes to it."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import shoal
from tests.envs.conftest import is_single_agent, make_small_vec

SINGLE_IDS = [env_id for env_id in shoal.ENV_IDS if is_single_agent(env_id)]


# ---- TorchRL ----


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_torchrl_wraps_every_vector_id_in_disabled_mode(env_id):
    pytest.importorskip("torchrl")
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    """TorchRL resets the ended rows itself (reset with options={"reset_mask": ...}), so every
    row keeps playing: with a 10-step limit each row ends at step 10 at the latest, again and
    again, within one 35-step rollout."""
    env = GymWrapper(make_small_vec(env_id, worlds=2, autoreset_mode=AutoresetMode.DISABLED,
                                    max_episode_steps=10))
    check_env_specs(env)
    rollout = env.rollout(35, break_when_any_done=False)
    done = rollout["next", "done"].squeeze(-1)
    assert rollout.batch_size == (env.batch_size[0], 35)
    assert (done.sum(dim=1) >= 3).all()  # every row ended and was reset at least 3 times
    assert env.observation_spec["observation"].is_in(rollout["next", "observation"][:, -1])


@pytest.mark.parametrize("env_id", SINGLE_IDS)
def test_torchrl_wraps_every_single_id(env_id):
    pytest.importorskip("torchrl")
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    env = GymWrapper(gymnasium.make(env_id))
    env.set_seed(0)
    check_env_specs(env)
    rollout = env.rollout(300)  # stops at the first episode end, as TorchRL's default does
    assert rollout["next", "reward"].shape[-1] == 1


def test_torchrl_same_step_limit_is_the_zero_placeholder():
    """One reason SAME_STEP fails under TorchRL (docs/api.md): TorchRL stores zeros as the
    final observation of every row that did not end, and zero lies outside a Box whose lower
    bound is above it (Breakout's paddle width is never below 0.5). The same happens to any
    Gymnasium env with such a space, shoal or not."""
    pytest.importorskip("torchrl")
    space = gymnasium.make("shoal/Breakout-v0").observation_space
    assert not space.contains(np.zeros(space.shape, space.dtype))
    assert space.low.max() == 0.5


# ---- Stable-Baselines3 ----


@pytest.mark.parametrize("env_id", SINGLE_IDS)
def test_sb3_check_env_passes_on_every_single_id(env_id):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_checker import check_env

    check_env(gymnasium.make(env_id).unwrapped, warn=True, skip_render_check=True)


def test_sb3_vec_env_use_and_a_short_ppo_run():
    """SB3's own vector env over gymnasium.make (its VecEnv API: reset returns observations
    only, step returns 4 values with infos per env), and PPO learning a few steps on it."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    vec_env = make_vec_env("shoal/Breakout-v0", n_envs=4, seed=0)
    observations = vec_env.reset()
    assert observations.shape == (4, 117)
    observations, rewards, dones, infos = vec_env.step(np.zeros(4, dtype=np.int64))
    assert rewards.shape == dones.shape == (4,) and len(infos) == 4
    model = PPO("MlpPolicy", vec_env, n_steps=32, batch_size=64, n_epochs=1, seed=0,
                device="cpu", policy_kwargs={"net_arch": [16]})
    model.learn(total_timesteps=256)
    actions, _ = model.predict(observations, deterministic=True)
    assert vec_env.action_space.contains(int(actions[0]))
    vec_env.close()
