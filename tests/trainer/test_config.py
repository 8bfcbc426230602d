"""The trainer's settings: layers resolve in order, command-line values are TOML literals
checked against the schema, bad keys and types are clear errors, and a saved config.toml
reads back to the same Config."""

from __future__ import annotations

import math
import tomllib

import pytest

from shoal.trainer import config as config_module
from shoal.trainer.config import (
    CONFIG_DIR,
    Config,
    ConfigError,
    config_from_dict,
    field_types,
    load_config,
    parse_overrides,
    resolve_env,
    to_toml,
)


def test_default_toml_holds_every_key_of_the_schema_with_a_comment():
    text = (CONFIG_DIR / "default.toml").read_text()
    assert set(tomllib.loads(text)) == set(field_types())
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        if "=" in line and not line.startswith("#"):
            assert "#" in line, f"default.toml: {key} has no comment"


@pytest.mark.parametrize("env", sorted(path.stem for path in CONFIG_DIR.glob("*.toml")
                                        if path.stem != "default"))
def test_every_env_file_holds_known_keys_that_differ_from_the_defaults(env):
    config = load_config(env)
    assert config.env_id == resolve_env(env)[1]
    defaults = tomllib.loads((CONFIG_DIR / "default.toml").read_text())
    overrides = tomllib.loads((CONFIG_DIR / f"{env}.toml").read_text())
    repeated = [key for key, value in overrides.items()
                if key not in ("env", "sweep") and defaults[key] == value]
    assert not repeated, f"{env}.toml repeats default.toml's {repeated}"


def test_resolution_order_default_then_env_file_then_config_file_then_command_line(tmp_path):
    default = load_config("snake", overrides=[])
    assert default.policy == "grid"  # snake.toml overrides default.toml's "mlp"
    assert default.env["width"] == 16  # from snake.toml's [env] table
    # a key snake.toml leaves alone comes from default.toml
    assert default.gae_lambda == tomllib.loads((CONFIG_DIR / "default.toml").read_text())["gae_lambda"]

    user = tmp_path / "user.toml"
    user.write_text('gamma = 0.9\nhidden_size = 64\n[env]\nwidth = 7\n')
    from_file = load_config("snake", user)
    assert (from_file.gamma, from_file.hidden_size, from_file.env["width"]) == (0.9, 64, 7)
    assert from_file.env["height"] == 16  # the [env] table merges key by key

    from_cli = load_config("snake", user, ["--gamma", "0.5", "--env.width", "9"])
    assert (from_cli.gamma, from_cli.hidden_size, from_cli.env["width"]) == (0.5, 64, 9)


def test_overrides_are_toml_literals_with_dashes_or_underscores():
    config = load_config("breakout", overrides=[
        "--total-timesteps", "5e6", "--anneal_lr", "false", "--learning-rate=1", "--policy",
        "mlp", "--env.frameskip", "2", "--rho-clip", "inf", "--device", '"cpu"',
    ])
    assert config.total_timesteps == 5_000_000 and type(config.total_timesteps) is int
    assert config.anneal_lr is False
    assert config.learning_rate == 1.0 and type(config.learning_rate) is float
    assert config.env["frameskip"] == 2
    assert math.isinf(config.rho_clip)
    assert config.device == "cpu"


def test_parse_overrides_builds_nested_tables():
    assert parse_overrides(["--env.width", "8", "--num-envs=64"]) == {
        "env": {"width": 8}, "num_envs": 64}
    with pytest.raises(ConfigError, match="needs a value"):
        parse_overrides(["--seed"])
    with pytest.raises(ConfigError, match="--key value"):
        parse_overrides(["seed", "1"])


def test_unknown_key_names_it_and_suggests_close_matches(tmp_path):
    with pytest.raises(ConfigError, match=r"'learnig_rate'.*did you mean learning_rate"):
        load_config("breakout", overrides=["--learnig-rate", "0.1"])
    user = tmp_path / "user.toml"
    user.write_text("totl_timesteps = 10\n")
    with pytest.raises(ConfigError, match=rf"'totl_timesteps' from --config {user}.*total_timesteps"):
        load_config("breakout", user)


@pytest.mark.parametrize(("override", "message"), [
    (["--num-envs", "1.5"], r"'num_envs'.*must be int, got float 1.5"),
    (["--anneal-lr", "1"], r"'anneal_lr'.*must be bool, got int 1"),
    (["--learning-rate", "fast"], r"'learning_rate'.*must be float, got str 'fast'"),
    (["--policy", "3"], r"'policy'.*must be str, got int 3"),
    (["--env", "3"], r"'env'.*must be a table"),
])
def test_wrong_type_names_key_expected_and_got(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("breakout", overrides=override)


@pytest.mark.parametrize(("override", "message"), [
    (["--gamma", "1.5"], r"'gamma' must be in \[0, 1\], got 1.5"),
    (["--num-envs", "0"], r"'num_envs' must be >= 1"),
    (["--policy", "cnn"], r"'policy' must be one of"),
    (["--minibatch-size", "1000"], r"'minibatch_size' must divide .* 65536"),
    (["--lstm", "true", "--horizon", "48", "--num-envs", "256", "--minibatch-size", "1024"],
     r"'minibatch_size' must be a multiple of horizon = 48 .* got 1024"),
    (["--optimizer", "sgd"], r"'optimizer' must be one of \('adam', 'muon'\)"),
    (["--prio-beta0", "2"], r"'prio_beta0' must be in \[0, 1\]"),
    (["--max-microbatch-size", "-1"], r"'max_microbatch_size' must be >= 0"),
    (["--reward-scale", "0"], r"'reward_scale' must be > 0, got 0.0"),
    (["--reward-scale", "-1.0"], r"'reward_scale' must be > 0"),
    (["--display", "fancy"], r"'display' must be one of"),
    (["--env.num_threads", "2"], r"env.num_threads .*top-level key 'num_threads'"),
    (["--env-id", "shoal/Snake-v0"], r"ENV is 'shoal/Breakout-v0'"),
])
def test_values_out_of_range_are_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("breakout", overrides=override)


@pytest.mark.parametrize("spelling", ["snake_arena", "snakearena", "snake-arena", "SnakeArena",
                                      "shoal/SnakeArena-v0"])
def test_env_names_in_any_spelling(spelling):
    assert resolve_env(spelling) == ("snake_arena", "shoal/SnakeArena-v0")


def test_unknown_env_lists_the_choices():
    with pytest.raises(ConfigError, match=r"unknown env 'pong'.*breakout.*shoal/Snake-v0"):
        resolve_env("pong")


def test_saved_config_reads_back_identically(tmp_path):
    config = load_config("snake", overrides=["--rho-clip", "inf", "--env.reward-step", "-0.01"])
    path = tmp_path / "config.toml"
    config_module.save_config(config, path)
    values = tomllib.loads(path.read_text())
    assert config_from_dict(values) == config
    # and works as --config for the same env
    assert load_config("snake", path) == config


def test_a_config_saved_before_a_key_existed_gets_the_value_it_trained_with(tmp_path):
    # Checkpoints and run dirs written before reward_scale existed trained unscaled; any other
    # missing key still means the saved config is incomplete.
    values = load_config("snake").to_dict()
    del values["reward_scale"]
    assert config_from_dict(values).reward_scale == 1.0
    del values["gamma"]
    with pytest.raises(ConfigError, match=r"lacks the keys \['gamma'\]"):
        config_from_dict(values)


def test_toml_writer_escapes_and_nests():
    values = {"a": 'quote " and \\ and \n', "b": 1.5e-7, "c": -math.inf, "d": True,
              "t": {"x y": 1, "u": {"v": "w"}}}
    assert tomllib.loads(to_toml(values)) == values
    with pytest.raises(TypeError, match="t.l must be"):
        to_toml({"t": {"l": [1, 2]}})


def test_config_computes_the_batch_and_the_number_of_updates():
    config = load_config("snake", overrides=["--num-envs", "8", "--horizon", "16",
                                             "--total-timesteps", "129", "--minibatch-size", "32"])
    assert isinstance(config, Config)
    assert (config.batch_size, config.num_updates) == (128, 2)  # rounded up to whole batches
