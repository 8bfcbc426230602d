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


class ActorCritic(nn.Module):
    """An actor encoder (obs -> features) with a policy head, and a value head that reads
    either the same features (`critic_encoder=None`, a shared trunk) or its own encoder's."""

    def __init__(
        self,
        actor_encoder: nn.Module,
        critic_encoder: nn.Module | None,
        features: int,
        action_space: gymnasium.Space,
        precision: str = "float32",
    ):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
        self.actor_encoder = actor_encoder
        self.critic_encoder = critic_encoder
        self.autocast_dtype = PRECISIONS[precision]
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

    def encode(self, encoder: nn.Module, obs: torch.Tensor) -> torch.Tensor:
        """An encoder's float32 features, computed in bfloat16 when precision says so."""
        if self.autocast_dtype is None:
            return encoder(obs)
        with torch.autocast(obs.device.type, dtype=self.autocast_dtype):
            features = encoder(obs)
        return features.float()

    def distribution(self, actor_features: torch.Tensor) -> Distribution:
        if self.actor_logstd is None:
            return Categorical(logits=self.actor(actor_features), validate_args=False)
        mean = self.actor(actor_features)
        std = self.actor_logstd.exp().expand_as(mean)
        # Independent sums the log probabilities and entropies over the action's dimensions.
        return Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(obs), shape [batch]."""
        encoder = self.actor_encoder if self.critic_encoder is None else self.critic_encoder
        return self.critic(self.encode(encoder, obs)).squeeze(-1)

    def get_action_and_value(
        self, obs: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(action, log pi(action | obs), entropy, V(obs)); samples the action when none is given."""
        actor_features = self.encode(self.actor_encoder, obs)
        if self.critic_encoder is None:
            critic_features = actor_features
        else:
            critic_features = self.encode(self.critic_encoder, obs)
        dist = self.distribution(actor_features)
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.critic(critic_features).squeeze(-1)

    def get_action(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """A sampled action, or the most likely one (the Gaussian's mean) when deterministic."""
        dist = self.distribution(self.encode(self.actor_encoder, obs))
        return dist.mode if deterministic else dist.sample()


class MLPEncoder(nn.Module):
    """Flatten -> Linear -> act -> Linear -> act. Integer observations are scaled to [0, 1]."""

    def __init__(self, observation_space: gymnasium.spaces.Box, hidden_size: int, activation: str):
        super().__init__()
        self.scale = None
        if not np.issubdtype(observation_space.dtype, np.floating):
            self.scale = 1.0 / max(float(np.max(observation_space.high)), 1.0)
        Activation = ACTIVATIONS[activation]
        self.net = nn.Sequential(
            layer_init(nn.Linear(int(np.prod(observation_space.shape)), hidden_size)),
            Activation(),
            layer_init(nn.Linear(hidden_size, hidden_size)),
            Activation(),
        )

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
    ):
        check_observation_space(observation_space, "MLPPolicy")
        super().__init__(
            MLPEncoder(observation_space, hidden_size, activation),
            MLPEncoder(observation_space, hidden_size, activation),
            hidden_size, action_space, precision,
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
        super().__init__(encoder, None, hidden_size, action_space, precision)


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
    """The policy that `config.policy` names, sized by the config, on `device`."""
    precision = resolve_precision(config.precision, device)
    if config.policy == "mlp":
        policy: ActorCritic = MLPPolicy(observation_space, action_space, config.hidden_size,
                                        config.activation, precision)
    elif config.policy == "grid":
        policy = GridPolicy(observation_space, action_space, config.hidden_size,
                            config.activation, config.embedding_dim, config.channels, precision)
    else:
        raise ValueError(f"policy must be 'mlp' or 'grid', got {config.policy!r}")
    return policy.to(device)
    raise ValueError(f"policy must be 'mlp' or 'grid', got {config.policy!r}")


def count_parameters(policy: nn.Module) -> int:
    return sum(parameter.numel() for parameter in policy.parameters())
