"""The trainer's settings: TOML files resolved in layers into one typed `Config`.

    config = load_config("breakout", config_file=None, overrides=["--total-timesteps", "5e6"])

Resolution order, each layer overriding the one before:

    configs/default.toml  <  configs/<env>.toml  <  --config FILE  <  --key value

`default.toml` holds every key with a comment saying what it means; an env's file overrides
only what differs. The `Config` dataclass below is the schema: its field types decide how a
value is checked (an int key accepts 5e6 from the command line, a float key accepts 1), and
`check_ranges` holds the few limits. Unknown keys are errors that name the key and suggest
close matches; wrong types are errors that name the key, the expected type and what came.

Command-line overrides are `--key value` or `--key=value`, with dashes or underscores, the
value read as a TOML literal (`5e6`, `false`, `"text"`, `inf`); a value that is not a TOML
literal is taken as a plain string (`--policy grid`). Env parameters, the `[env]` table, are
set with a dotted key: `--env.width 8`.

A config file may also hold a [sweep] table, the search space of `shoal sweep`
(trainer/sweep.py); it is no setting, and resolving a config skips it.

This module needs only the standard library and shoal (no torch): `shoal bench` uses it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import shoal
from shoal.files import write_text_atomically

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_FILE = CONFIG_DIR / "default.toml"

POLICIES = ("mlp", "grid")
OPTIMIZERS = ("adam", "muon")
DISPLAYS = ("auto", "bar", "lines", "none")
ACTIVATIONS = ("tanh", "relu")
PRECISIONS = ("auto", "float32", "bfloat16")
#: The table of a config file that holds a search space for `shoal sweep` (trainer/sweep.py);
#: a training run ignores it.
SWEEP_TABLE = "sweep"
#: make_vec arguments the trainer sets itself; the [env] table must not hold them.
RESERVED_ENV_KEYS = ("num_envs", "num_threads", "autoreset_mode", "render_mode", "copy")


#: Float settings for which inf is meaningful: V-trace's clips (inf: plain GAE).
INFINITE_OK = ("rho_clip", "c_clip")
#: Upper bounds that keep a run finite and its allocations possible: 1e13 agent-steps is a
#: year at 300K/s; the sizes bound the policy's and the rollout's memory (a 2**16-wide layer
#: is 4 billion weights, 16 GB) before anything is allocated.
MAX_TOTAL_TIMESTEPS = 10**13
MAX_SEED = 2**63 - 1 - 2**32
SIZE_LIMITS = {"hidden_size": 2**16, "lstm_size": 2**14, "embedding_dim": 2**12,
               "channels": 2**12, "num_envs": 2**24, "horizon": 2**16, "minibatch_size": 2**26,
               "update_epochs": 1000, "num_threads": 1024, "torch_threads": 1024}


class ConfigError(ValueError):
    """A bad setting: an unknown key, a wrong type, a value out of range, an unknown env."""


class TrainingDiverged(RuntimeError):
    """A run's losses or weights became inf or NaN: it stops before saving them (here, beside
    ConfigError, so that the CLI reports both without importing torch)."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of a training run; see configs/default.toml for what each one means."""

    # environment
    env_id: str
    num_envs: int
    num_threads: int
    # run
    total_timesteps: int
    seed: int
    torch_threads: int
    device: str
    log_interval: int
    checkpoint_interval: int
    display: str
    tensorboard: bool
    wandb: bool
    wandb_project: str
    # PPO
    horizon: int
    learning_rate: float
    value_lr_scale: float
    anneal_lr: bool
    gamma: float
    gae_lambda: float
    reward_scale: float
    rho_clip: float
    c_clip: float
    update_epochs: int
    minibatch_size: int
    clip_coef: float
    clip_vloss: bool
    vf_coef: float
    ent_coef: float
    max_grad_norm: float
    norm_adv: bool
    optimizer: str
    adam_eps: float
    weight_decay: float
    prio_alpha: float
    prio_beta0: float
    max_microbatch_size: int
    overlap_rollout: bool
    # policy
    policy: str
    hidden_size: int
    activation: str
    embedding_dim: int
    channels: int
    precision: str
    normalize_observations: bool
    lstm: bool
    lstm_size: int
    # keyword arguments of gymnasium.make_vec for the game (its parameters, max_episode_steps)
    env: dict[str, Any]

    @property
    def batch_size(self) -> int:
        """Agent-steps per update: one horizon of every env row."""
        return self.num_envs * self.horizon

    @property
    def num_updates(self) -> int:
        """Updates in the run: total_timesteps rounded up to whole batches."""
        return max(1, math.ceil(self.total_timesteps / self.batch_size))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---- env names ----


def env_names() -> dict[str, str]:
    """Short name -> id for every shoal env: "shoal/SnakeArena-v0" is "snake_arena"."""
    names = {}
    for env_id in shoal.ENV_IDS:
        game = env_id.split("/")[-1].rsplit("-v", 1)[0]
        names[re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", game).lower()] = env_id  # MMO: mmo
    return names


def resolve_env(env: str) -> tuple[str, str]:
    """(short name, id) for a short name in any spelling (snake_arena, snake-arena, snakearena,
    SnakeArena) or a full id (shoal/SnakeArena-v0)."""
    names = env_names()

    def squash(text: str) -> str:
        return re.sub(r"[-_]", "", text).lower()

    for name, env_id in names.items():
        if env == env_id or squash(env) == squash(name):
            return name, env_id
    choices = ", ".join([*names, *names.values()])
    raise ConfigError(f"unknown env {env!r}; choose one of: {choices}")


# ---- resolution ----


def load_config(
    env: str, config_file: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """Resolve default.toml < the env's file < config_file < overrides into a checked Config."""
    name, env_id = resolve_env(env)
    values = read_toml(DEFAULT_FILE)
    check_keys(values, f"{DEFAULT_FILE}")  # the defaults must match the schema exactly
    missing = sorted(set(field_types()) - set(values))
    if missing:
        raise ConfigError(f"{DEFAULT_FILE} lacks the keys {missing}")
    layers: list[tuple[dict[str, Any], str]] = []
    env_file = env_config_file(name)
    if env_file is not None:
        layers.append((settings_of(read_toml(env_file)), str(env_file)))
    if config_file is not None:
        layers.append((settings_of(read_toml(Path(config_file))), f"--config {config_file}"))
    if overrides:
        layers.append((parse_overrides(overrides), "the command line"))
    values = coerce_layer(values, DEFAULT_FILE.name)
    values["env_id"] = env_id  # an env needs no file of its own
    for layer, source in layers:
        values = merge(values, coerce_layer(layer, source))
    if values["env_id"] != env_id:
        raise ConfigError(
            f"env_id is {values['env_id']!r} in the resolved config but ENV is {env_id!r}: "
            "leave env_id to the ENV argument"
        )
    config = Config(**values)
    check_ranges(config)
    return config


# Keys added to the schema after runs were saved, with the value that reproduces how a run saved
# before the key existed trained. A saved config lacking one of these gets it; lacking any other
# key, it is incomplete and refused.
KEYS_ADDED_LATER: dict[str, Any] = {"reward_scale": 1.0, "value_lr_scale": 1.0}


def config_from_dict(values: dict[str, Any], source: str = "the config") -> Config:
    """A Config from a complete dict (a saved config.toml, a checkpoint's config)."""
    check_keys(values, source)
    values = {**KEYS_ADDED_LATER, **values}
    missing = sorted(set(field_types()) - set(values))
    if missing:
        raise ConfigError(f"{source} lacks the keys {missing}")
    config = Config(**coerce_layer(values, source))
    check_ranges(config)
    return config


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    except OSError as error:  # a folder, no permission
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:  # a binary file
        raise ConfigError(f"config file {path} is not valid TOML: it is not UTF-8 text") from None
    except RecursionError:  # tables nested thousands deep
        raise ConfigError(f"config file {path} nests its tables too deeply to read") from None


def settings_of(file_values: dict[str, Any]) -> dict[str, Any]:
    """A config file's settings: everything but its [sweep] table (a search space)."""
    return {key: value for key, value in file_values.items() if key != SWEEP_TABLE}


def env_config_file(name: str) -> Path | None:
    """configs/<name>.toml, the env's own layer, if it has one."""
    path = CONFIG_DIR / f"{name}.toml"
    return path if path.exists() else None


def parse_overrides(argv: list[str]) -> dict[str, Any]:
    """["--total-timesteps", "5e6", "--env.width=8"] -> {"total_timesteps": 5e6, "env": {"width": 8}}.

    Values are TOML literals; anything else is a plain string. Types are checked later,
    against the schema, like the values of a file."""
    values: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"expected a --key value pair, got {arg!r}")
        if "=" in arg:
            key, text = arg[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(argv):
                raise ConfigError(f"{arg} needs a value")
            key, text = arg[2:], argv[i + 1]
            i += 2
        path = key.replace("-", "_").split(".")
        table = values
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--{key}: {part} is not a table")
        table[path[-1]] = parse_literal(text)
    return values


def parse_literal(text: str) -> Any:
    """A TOML literal ("5e6" -> 5000000.0, "false" -> False, "[1]" -> [1]) or the string itself."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


# ---- checking ----


@functools.cache
def field_types() -> dict[str, type]:
    """The schema: each key's Python type (int, float, bool, str, dict)."""
    hints = typing.get_type_hints(Config)
    return {name: typing.get_origin(hint) or hint for name, hint in hints.items()}


def check_keys(values: dict[str, Any], source: str) -> None:
    for key in values:
        if key not in field_types():
            raise ConfigError(f"unknown config key {key!r} from {source}{close_keys_hint(key)}")


def close_keys_hint(key: str) -> str:
    """'; did you mean X or Y?' for the schema's keys closest to an unknown key, or ''."""
    close = difflib.get_close_matches(key, field_types(), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def coerce_layer(layer: dict[str, Any], source: str) -> dict[str, Any]:
    """Check every key of one layer and convert its value to the schema's type."""
    check_keys(layer, source)
    types = field_types()
    result: dict[str, Any] = {}
    for key, value in layer.items():
        if key == "env":
            result[key] = coerce_env_table(value, source)
        else:
            result[key] = coerce(key, value, types[key], source)
    return result


def coerce(key: str, value: Any, expected: type, source: str) -> Any:
    """`value` as type `expected`, or a ConfigError naming key, expected type and what came."""
    converted = as_type(value, expected)
    if converted is None:
        raise ConfigError(
            f"config key {key!r} from {source} must be {expected.__name__}, "
            f"got {type(value).__name__} {value!r}"
        )
    return converted


def as_type(value: Any, expected: type) -> Any:
    """`value` as type `expected` (an int with no fraction for a float key, a float with no
    fraction for an int key: 5e6 from the command line is a float literal in TOML), or None
    if it is not one."""
    if expected is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value if type(value) is expected else None


def coerce_env_table(table: Any, source: str) -> dict[str, Any]:
    """The [env] table: scalar keyword arguments for make_vec. The game itself checks names,
    types and ranges when the env is built (gymnasium.make_vec)."""
    if not isinstance(table, dict):
        raise ConfigError(f"config key 'env' from {source} must be a table, got {table!r}")
    for key, value in table.items():
        if key in RESERVED_ENV_KEYS:
            raise ConfigError(
                f"env.{key} from {source}: the trainer sets {key} itself"
                + (f"; use the top-level key {key!r}" if key in ("num_envs", "num_threads") else "")
            )
        if not isinstance(value, (bool, int, float, str)):
            raise ConfigError(
                f"env.{key} from {source} must be a bool, int, float or string, got {value!r}"
            )
    return dict(table)


def merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """base updated by layer; the [env] table is merged key by key, not replaced."""
    merged = dict(base)
    for key, value in layer.items():
        merged[key] = {**base.get(key, {}), **value} if key == "env" else value
    return merged


def check_ranges(config: Config) -> None:
    """Limits the types cannot express, each error naming the key, the limit and the value."""
    check_limits(config)
    check_batch_shape(config)


def check_limits(config: Config) -> None:
    """The limits of each key on its own (a search space's bounds are checked with these)."""

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"config key {key!r} must be {what}, got {getattr(config, key)!r}")

    for key in ("num_envs", "num_threads", "total_timesteps", "torch_threads", "log_interval",
                "horizon", "update_epochs", "minibatch_size", "hidden_size", "embedding_dim",
                "channels", "lstm_size"):
        need(getattr(config, key) >= 1, key, ">= 1")
    # A float setting that is inf or NaN would train on, then save non-finite weights.
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float) and not math.isfinite(value) and field.name not in INFINITE_OK:
            raise ConfigError(f"config key {field.name!r} must be finite, got {value!r}")
    need(config.total_timesteps <= MAX_TOTAL_TIMESTEPS, "total_timesteps",
         f"<= {MAX_TOTAL_TIMESTEPS:.0e} (a year of training at 300K agent-steps/s is 1e13)")
    need(config.seed <= MAX_SEED, "seed", f"<= 2**63 - 1 - 2**32 = {MAX_SEED} (env row seeds are "
         "seed + row and must stay below 2**64; torch's seed below 2**63)")
    for key, limit in SIZE_LIMITS.items():
        need(getattr(config, key) <= limit, key, f"<= {limit:,} (sizes beyond it cannot fit in "
             "memory; the check comes before anything is allocated)")
    need(config.max_microbatch_size >= 0, "max_microbatch_size", ">= 0 (0: no cap)")
    for key in ("weight_decay", "prio_alpha"):
        need(getattr(config, key) >= 0, key, ">= 0")
    need(0.0 <= config.prio_beta0 <= 1.0, "prio_beta0", "in [0, 1]")
    need(config.optimizer in OPTIMIZERS, "optimizer", f"one of {OPTIMIZERS}")
    need(config.display in DISPLAYS, "display", f"one of {DISPLAYS}")
    need(config.seed >= 0, "seed", ">= 0")
    need(config.checkpoint_interval >= 0, "checkpoint_interval", ">= 0 (0: only at the end)")
    for key in ("learning_rate", "clip_coef", "max_grad_norm", "adam_eps", "rho_clip", "c_clip",
                "reward_scale", "value_lr_scale"):
        need(getattr(config, key) > 0, key, "> 0")
    for key in ("gamma", "gae_lambda"):
        need(0.0 <= getattr(config, key) <= 1.0, key, "in [0, 1]")
    for key in ("vf_coef", "ent_coef"):
        need(getattr(config, key) >= 0, key, ">= 0")
    need(config.policy in POLICIES, "policy", f"one of {POLICIES}")
    need(config.activation in ACTIVATIONS, "activation", f"one of {ACTIVATIONS}")
    need(config.precision in PRECISIONS, "precision", f"one of {PRECISIONS}")
    need(config.device == "cpu" or config.device.startswith("cuda"), "device",
         "'cpu' or 'cuda' (or 'cuda:N')")


def check_batch_shape(config: Config) -> None:
    """The limits that tie keys together: how minibatches cut the batch."""
    if (config.lstm or config.prio_alpha > 0) and config.minibatch_size % config.horizon != 0:
        raise ConfigError(
            f"config key 'minibatch_size' must be a multiple of horizon = {config.horizon} when "
            f"minibatches are whole segments (lstm or prio_alpha > 0), got {config.minibatch_size}"
        )
    if config.batch_size % config.minibatch_size != 0:
        raise ConfigError(
            f"config key 'minibatch_size' must divide the batch num_envs * horizon = "
            f"{config.num_envs} * {config.horizon} = {config.batch_size}, "
            f"got {config.minibatch_size}"
        )


# ---- writing ----


def to_toml(values: dict[str, Any]) -> str:
    """TOML text for a dict of str/int/float/bool values and nested dicts of them (tables).

    Scalars first, then each table under its [dotted.header], as TOML requires."""
    lines: list[str] = []
    write_table(values, [], lines)
    return "\n".join(lines) + "\n"


def write_table(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    if path:
        lines.extend(["", "[" + ".".join(toml_key(part) for part in path) + "]"])
    tables = []
    for key, value in table.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{toml_key(key)} = {toml_value(value, '.'.join([*path, key]))}")
    for key, value in tables:
        write_table(value, [*path, key], lines)


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_value(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest round-trip form, always with "." or "e"
    if isinstance(value, str):
        return toml_string(value)
    raise TypeError(
        f"to_toml: {key} must be a str, int, float, bool or dict, got {type(value).__name__}"
    )


def toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def save_config(config: Config, path: str | Path) -> None:
    write_text_atomically(path, to_toml(config.to_dict()))
