"""Actor-critic policies for PPO: encoders, a policy head and a value head.

- `MLPPolicy`, for flat vector observations (Breakout): separate actor and critic networks
  (CleanRL's choice), each two hidden layers of `hidden_size`. Separate, because with a
  shared trunk the value loss (returns are not normalised, and Breakout's run into the tens)
  dominates the gradient and, after max_grad_norm's clipping, starves the policy: CartPole
  with CleanRL's settings reaches a return of ~360 in 150K steps with separate networks,
  ~60 with a shared trunk. It costs nothing in speed: two networks of hidden size h have
  the parameters and the arithmetic of one shared trunk of about 1.4 h.
- `GridPolicy`, for 2-D uint8 tile codes (Snake's window): a learned vector per code, two
  3x3 convolutions (the second with stride 2), one hidden layer, shared by both heads as in
  CleanRL's Atari agent (the convolutions are the expensive part; Snake's rewards are small).

The action head follows the action space: a categorical distribution over logits for
`Discrete`, a diagonal Gaussian with a state-independent log standard deviation for `Box`
(the trainer clips the sampled actions to the box before stepping the env; the log
probability is of the unclipped sample). Initialisation follows CleanRL: orthogonal weights
with gain sqrt(2) in the hidden layers, 0.01 for the policy head (near-uniform first
actions) and 1 for the value head, zero biases.

`precision="bfloat16"` runs the encoders under torch.autocast (see `resolve_precision`);
heads, weights, gradients and the optimizer stay float32.

Every policy offers `get_action_and_value(obs, action=None)` and `get_value(obs)`, taking
observations as they come from the env (any dtype, batched on the first axis).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import gymnasium
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

if TYPE_CHECKING:
    from shoal.trainer.config import Config

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}
#: The encoders' matmul/convolution precision: "bfloat16" runs them under torch.autocast
#: (weights, gradients, the optimizer and both heads stay float32).
PRECISIONS: dict[str, torch.dtype | None] = {"float32": None, "bfloat16": torch.bfloat16}


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """"auto" -> "bfloat16" on a CPU that computes it natively (AVX512-BF16 or AMX: about
    1.5x the float32 speed of PPO's update there), "float32" elsewhere (emulated bfloat16 is
    slower, and a small policy gains little from it on a GPU). Other values pass through."""
    if precision != "auto":
        return precision
    if torch.device(device).type != "cpu":
        return "float32"
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private: may vanish
    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return "bfloat16" if native else "float32"


def layer_init(layer: nn.Module, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights scaled by `std`, constant bias (CleanRL's layer_init)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class ObservationNormalizer(nn.Module):
    """(obs - mean) / std per feature, clipped to [-clip, clip], with the mean and variance of
    every observation the trainer has shown it (`update`), kept in float64 buffers so they
    are saved with the model and a checkpoint plays with the statistics it trained with.

    Why: Breakout's vector holds 108 brick flags that are almost always 1 next to the few
    numbers that matter (ball and paddle positions, close to each other in [0, 1]). Unscaled,
    a freshly initialised MLP separates "ball left of the paddle" from "right of it" so slowly
    that PPO never does (a supervised probe: 82% after 200 Adam steps, 98% once normalised),
    and the policy stays at a random player's score. Normalising is standard for vector
    observations (SB3's VecNormalize, CleanRL's continuous-control PPO).

    A feature that never varied (a constant) normalises to 0. The statistics change only
    when `update` is called, which the trainer does after each update's gradient steps, so
    a rollout and the gradient steps on it see the same normalisation."""

    def __init__(self, shape: tuple[int, ...], clip: float = 5.0):
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("scale", torch.ones(shape))  # 1 / std, float32, cached
        self.register_buffer("shift", torch.zeros(shape))  # mean, float32, cached

    @torch.no_grad()
    def update(self, batch: torch.Tensor, reduce=None) -> None:
        """Merge a batch [N, *shape] into the running moments (Chan et al.'s parallel update).
        `reduce` sums a tensor over the ranks of a distributed run, so that every rank
        merges the moments of all ranks' batches and the statistics stay identical."""
        batch = batch.reshape(-1, *self.mean.shape).to(torch.float64)
        sums = torch.stack((batch.sum(0), batch.square().sum(0),
                            torch.full_like(self.mean, batch.shape[0])))
        if reduce is not None:
            reduce(sums)
        batch_count = float(sums[2].flatten()[0])
        if batch_count == 0:
            return
        batch_mean = sums[0] / batch_count
        batch_var = (sums[1] / batch_count - batch_mean.square()).clamp_min(0.0)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        self.mean += delta * (batch_count / total)
        self.var.copy_((self.var * self.count + batch_var * batch_count
                        + delta.square() * self.count * batch_count / total) / total)
        self.count.copy_(total)
        # A feature with (almost) no variance gets scale 0: it carries no information.
        std = self.var.sqrt()
        self.scale.copy_(torch.where(std > 1e-6, 1.0 / std.clamp_min(1e-6), 0.0))
        self.shift.copy_(self.mean)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return ((obs.float() - self.shift) * self.scale).clamp(-self.clip, self.clip)


class ActorCritic(nn.Module):
    """An actor encoder (obs -> features) with a policy head, and a value head that reads
    either the same features (`critic_encoder=None`, a shared trunk) or its own encoder's.

    With `lstm_size` > 0 an LSTM follows the encoder and both heads read its output (a
    shared trunk, PufferLib's layout). Its state, [batch, 2, lstm_size] (hidden and cell),
    is carried from step to step by the caller and zeroed where `starts` marks the first
    observation of an episode.

    Entry points, all taking observations as the env gives them (any dtype):
    - `act(obs, state, starts, mask)`: one step of a batch of rows: an action, its log
      probability, V(obs) and the next state (rollouts, evaluation).
    - `value(obs, state, starts)`: V(obs) for one step (truncation bootstraps).
    - `evaluate(obs, actions, state, starts, masks)` (also `forward`, for
      DistributedDataParallel): log probabilities, entropies and values of given actions
      over segments [N, L, ...], the LSTM run through each segment from its first state.
    `mask` / `masks` (bool, True = allowed) restrict a categorical head to legal actions.
    """

    def __init__(
        self,
        actor_encoder: nn.Module,
        critic_encoder: nn.Module | None,
        features: int,
        action_space: gymnasium.Space,
        precision: str = "float32",
        normalizer: ObservationNormalizer | None = None,
        lstm_size: int = 0,
    ):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
        self.normalizer = normalizer
        self.actor_encoder = actor_encoder
        self.autocast_dtype = PRECISIONS[precision]
        self.lstm: nn.LSTMCell | None = None
        if lstm_size > 0:
            critic_encoder = None  # both heads read the LSTM
            self.lstm = nn.LSTMCell(features, lstm_size)
            for name, parameter in self.lstm.named_parameters():
                if "weight" in name:
                    nn.init.orthogonal_(parameter, 1.0)
                else:
                    nn.init.zeros_(parameter)
            features = lstm_size
        self.critic_encoder = critic_encoder
        self.critic = layer_init(nn.Linear(features, 1), std=1.0)
        if isinstance(action_space, gymnasium.spaces.Discrete):
            self.actor = layer_init(nn.Linear(features, int(action_space.n)), std=0.01)
            self.actor_logstd = None
        elif isinstance(action_space, gymnasium.spaces.Box) and len(action_space.shape) == 1:
            self.actor = layer_init(nn.Linear(features, action_space.shape[0]), std=0.01)
            self.actor_logstd = nn.Parameter(torch.zeros(action_space.shape[0]))
        else:
            raise ValueError(
                f"action_space must be Discrete or a 1-D Box for {type(self).__name__}, "
                f"got {describe(action_space)}"
            )

    @property
    def recurrent(self) -> bool:
        return self.lstm is not None

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
        """The state of rows that start an episode: zeros, or None for a feed-forward policy."""
        if self.lstm is None:
            return None
        return torch.zeros((batch, 2, self.lstm.hidden_size), device=device)

    def update_normalizer(self, obs: torch.Tensor, reduce=None) -> None:
        """Add a batch of observations to the normalizer's statistics (no-op without one)."""
        if self.normalizer is not None:
            self.normalizer.update(obs, reduce)

    def encode(self, encoder: nn.Module, obs: torch.Tensor) -> torch.Tensor:
        """An encoder's float32 features, computed in bfloat16 when precision says so."""
        if self.normalizer is not None:
            obs = self.normalizer(obs)
        if self.autocast_dtype is None:
            return encoder(obs)
        with torch.autocast(obs.device.type, dtype=self.autocast_dtype):
            features = encoder(obs)
        return features.float()

    def step_features(
        self, obs: torch.Tensor, state: torch.Tensor | None, starts: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(actor features, critic features, next state) of one step of a batch of rows."""
        actor_features = self.encode(self.actor_encoder, obs)
        if self.lstm is None:
            if self.critic_encoder is None:
                return actor_features, actor_features, None
            return actor_features, self.encode(self.critic_encoder, obs), None
        if state is None:
            state = self.initial_state(obs.shape[0], obs.device)
        hidden, cell = self.lstm(actor_features, reset_where(state, starts).unbind(1))
        return hidden, hidden, torch.stack((hidden, cell), 1)

    def distribution(self, actor_features: torch.Tensor, mask: torch.Tensor | None = None) -> Distribution:
        if self.actor_logstd is None:
            logits = self.actor(actor_features)
            if mask is not None:  # a large negative rather than -inf: no NaN in the entropy
                logits = logits.masked_fill(~mask, -1e9)
            return Categorical(logits=logits, validate_args=False)
        mean = self.actor(actor_features)
        std = self.actor_logstd.exp().expand_as(mean)
        # Independent sums the log probabilities and entropies over the action's dimensions.
        return Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)

    def act(
        self,
        obs: torch.Tensor,
        state: torch.Tensor | None = None,
        starts: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(action, log pi(action | obs), V(obs), next state): a sample, or the most likely
        action (the Gaussian's mean) when deterministic."""
        actor_features, critic_features, state = self.step_features(obs, state, starts)
        dist = self.distribution(actor_features, mask)
        action = dist.mode if deterministic else dist.sample()
        return action, dist.log_prob(action), self.critic(critic_features).squeeze(-1), state

    def value(
        self, obs: torch.Tensor, state: torch.Tensor | None = None, starts: torch.Tensor | None = None
    ) -> torch.Tensor:
        """V(obs), shape [batch]."""
        _, critic_features, _ = self.step_features(obs, state, starts)
        return self.critic(critic_features).squeeze(-1)

    def evaluate(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        state: torch.Tensor | None = None,
        starts: torch.Tensor | None = None,
        masks: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log pi(actions), entropy, V) of shape [N, L] over N segments of L steps."""
        segments, length = obs.shape[:2]
        flat_obs = obs.reshape(segments * length, *obs.shape[2:])
        actor_features = self.encode(self.actor_encoder, flat_obs)
        if self.lstm is not None:
            if state is None:
                state = self.initial_state(segments, obs.device)
            sequence = actor_features.reshape(segments, length, -1)
            outputs = []
            for t in range(length):
                hidden, cell = self.lstm(
                    sequence[:, t], reset_where(state, None if starts is None else starts[:, t]).unbind(1)
                )
                state = torch.stack((hidden, cell), 1)
                outputs.append(hidden)
            actor_features = critic_features = torch.stack(outputs, 1).reshape(segments * length, -1)
        elif self.critic_encoder is None:
            critic_features = actor_features
        else:
            critic_features = self.encode(self.critic_encoder, flat_obs)
        flat_masks = None if masks is None else masks.reshape(segments * length, -1)
        dist = self.distribution(actor_features, flat_masks)
        flat_actions = actions.reshape(segments * length, *actions.shape[2:])
        logprob = dist.log_prob(flat_actions).reshape(segments, length)
        entropy = dist.entropy().reshape(segments, length)
        value = self.critic(critic_features).reshape(segments, length)
        return logprob, entropy, value

    forward = evaluate

    # ---- feed-forward conveniences: one step, no state ----

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(obs), shape [batch]."""
        return self.value(obs)

    def get_action_and_value(
        self, obs: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(action, log pi(action | obs), entropy, V(obs)); samples the action when none is given."""
        if action is None:
            action, _, _, _ = self.act(obs)
        logprob, entropy, value = self.evaluate(obs[:, None], action[:, None])
        return action, logprob[:, 0], entropy[:, 0], value[:, 0]

    def get_action(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """A sampled action, or the most likely one (the Gaussian's mean) when deterministic."""
        return self.act(obs, deterministic=deterministic)[0]


def reset_where(state: torch.Tensor, starts: torch.Tensor | None) -> torch.Tensor:
    """The LSTM state with the rows that start an episode zeroed."""
    if starts is None:
        return state
    return state * (~starts.bool()).to(state.dtype)[:, None, None]


class MLPEncoder(nn.Module):
    """Flatten -> Linear -> act -> Linear -> act. Integer observations are scaled to [0, 1]
    unless the policy's normalizer already scales them (`normalized`)."""

    def __init__(
        self,
        observation_space: gymnasium.spaces.Box,
        hidden_size: int,
        activation: str,
        normalized: bool = False,
    ):
        super().__init__()
        self.scale = None
        if not normalized and not np.issubdtype(observation_space.dtype, np.floating):
            self.scale = 1.0 / max(float(np.max(observation_space.high)), 1.0)
        Activation = ACTIVATIONS[activation]
        self.net = nn.Sequential(
            layer_init(nn.Linear(int(np.prod(observation_space.shape)), hidden_size)),
            Activation(),
            layer_init(nn.Linear(hidden_size, hidden_size)),
            Activation(),
        )

    @property
    def input_layer(self) -> nn.Linear:
        """The layer that reads the observation (Muon leaves it to AdamW)."""
        return self.net[0]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.flatten(1)
        x = x.float() * self.scale if self.scale is not None else x.float()
        return self.net(x)


class MLPPolicy(ActorCritic):
    """For flat vector observations: an actor and a critic network, each with two hidden
    layers of `hidden_size`."""

    def __init__(
        self,
        observation_space: gymnasium.spaces.Box,
        action_space: gymnasium.Space,
        hidden_size: int = 256,
        activation: str = "tanh",
        precision: str = "float32",
        normalize_observations: bool = False,
        lstm_size: int = 0,
    ):
        check_observation_space(observation_space, "MLPPolicy")
        normalizer = None
        if normalize_observations:
            normalizer = ObservationNormalizer(observation_space.shape)
        super().__init__(
            MLPEncoder(observation_space, hidden_size, activation, normalized=normalize_observations),
            # With an LSTM the heads share the actor's encoder and the LSTM.
            None if lstm_size else MLPEncoder(observation_space, hidden_size, activation,
                                              normalized=normalize_observations),
            hidden_size, action_space, precision, normalizer, lstm_size,
        )


class GridEncoder(nn.Module):
    """Tile codes [B, h, w] -> a learned vector per code [B, E, h, w] -> conv 3x3 -> conv 3x3
    stride 2 -> Linear. An embedding rather than raw numbers: the codes are names (wall,
    food, body), not quantities, and a lookup costs less than a one-hot input."""

    def __init__(
        self,
        observation_space: gymnasium.spaces.Box,
        hidden_size: int,
        activation: str,
        embedding_dim: int,
        channels: int,
    ):
        super().__init__()
        height, width = observation_space.shape
        Activation = ACTIVATIONS[activation]
        self.embedding = nn.Embedding(int(np.max(observation_space.high)) + 1, embedding_dim)
        self.convs = nn.Sequential(
            layer_init(nn.Conv2d(embedding_dim, channels, 3, padding=1)),
            Activation(),
            layer_init(nn.Conv2d(channels, channels, 3, stride=2, padding=1)),
            Activation(),
            nn.Flatten(),
        )
        conv_cells = ((height + 1) // 2) * ((width + 1) // 2)
        self.dense = nn.Sequential(
            layer_init(nn.Linear(channels * conv_cells, hidden_size)), Activation()
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # [B, h, w, E] viewed as [B, E, h, w]: a channels-last layout, which CPU convolutions like.
        x = self.embedding(obs.long()).permute(0, 3, 1, 2)
        return self.dense(self.convs(x))


class GridPolicy(ActorCritic):
    """For 2-D integer tile-code observations (Snake): embedding, small CNN, one hidden layer,
    shared by both heads."""

    def __init__(
        self,
        observation_space: gymnasium.spaces.Box,
        action_space: gymnasium.Space,
        hidden_size: int = 256,
        activation: str = "relu",
        embedding_dim: int = 8,
        channels: int = 32,
        precision: str = "float32",
        lstm_size: int = 0,
    ):
        check_observation_space(observation_space, "GridPolicy")
        if len(observation_space.shape) != 2 or not np.issubdtype(observation_space.dtype, np.integer):
            raise ValueError(
                "GridPolicy needs 2-D integer tile-code observations (like Snake's), got "
                f"{describe(observation_space)}: use policy = \"mlp\""
            )
        if np.min(observation_space.low) < 0 or np.max(observation_space.high) > 255:
            raise ValueError(
                f"GridPolicy needs tile codes in [0, 255], got {describe(observation_space)}"
            )
        encoder = GridEncoder(observation_space, hidden_size, activation, embedding_dim, channels)
        super().__init__(encoder, None, hidden_size, action_space, precision, None, lstm_size)


def check_observation_space(space: gymnasium.Space, policy: str) -> None:
    if not isinstance(space, gymnasium.spaces.Box):
        raise ValueError(f"{policy} needs a Box observation space, got {describe(space)}")


def describe(space: gymnasium.Space) -> str:
    """A one-line description (a Box's repr lists every bound)."""
    if isinstance(space, gymnasium.spaces.Box):
        return f"Box(shape={space.shape}, dtype={space.dtype})"
    return str(space)


def make_policy(
    config: Config,
    observation_space: gymnasium.Space,
    action_space: gymnasium.Space,
    device: torch.device | str = "cpu",
) -> ActorCritic:
    """The policy that `config.policy` names, sized by the config, on `device`. A size whose
    training state (weights, gradients, Adam's moments) cannot fit in this machine's memory is
    refused before anything is allocated: the policy is first built on torch's "meta" device,
    which allocates nothing, to count its parameters."""
    with torch.device("meta"):
        parameters = count_parameters(build_policy(config, observation_space, action_space, device))
    needed = parameters * 16  # float32 weights, gradients and Adam's two moments
    available = physical_memory_bytes()
    if available and needed > available:
        raise ValueError(
            f"a {config.policy} policy with hidden_size {config.hidden_size} has {parameters:,} "
            f"parameters: training it needs {needed / 2**30:.1f} GiB, more than this machine's "
            f"{available / 2**30:.1f} GiB of memory")
    return build_policy(config, observation_space, action_space, device).to(device)


def physical_memory_bytes() -> int:
    """The machine's memory (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def build_policy(config: Config, observation_space: gymnasium.Space,
                 action_space: gymnasium.Space, device: torch.device | str) -> ActorCritic:
    precision = resolve_precision(config.precision, device)
    lstm_size = config.lstm_size if config.lstm else 0
    if config.policy == "mlp":
        policy: ActorCritic = MLPPolicy(observation_space, action_space, config.hidden_size,
                                        config.activation, precision,
                                        config.normalize_observations, lstm_size)
    elif config.policy == "grid":
        policy = GridPolicy(observation_space, action_space, config.hidden_size,
                            config.activation, config.embedding_dim, config.channels, precision,
                            lstm_size)
    else:
        raise ValueError(f"policy must be 'mlp' or 'grid', got {config.policy!r}")
    return policy


def count_parameters(policy: nn.Module) -> int:
    return sum(parameter.numel() for parameter in policy.parameters())
