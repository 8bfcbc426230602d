"""What a minibatch is made of, and in what order minibatches take the batch: a shuffle of
single samples, or whole segments (an LSTM's, or prioritized by their advantages: Schaul et
al., 2016, per segment).
"""

from __future__ import annotations

import torch

from shoal.trainer.config import Config


class SampleUnits:
    """What a minibatch is made of. Single samples (units of 1 step) for a feed-forward
    policy with uniform sampling: a shuffle of all (row, step) pairs, the least correlated
    minibatches. Whole segments (units of `horizon` steps) for an LSTM, which must run
    through each segment in order, and for prioritized sampling, whose priorities are per
    segment."""

    def __init__(self, config: Config, recurrent: bool):
        self.horizon = config.horizon
        self.whole_segments = recurrent or config.prio_alpha > 0
        self.length = config.horizon if self.whole_segments else 1
        self.count = config.batch_size // self.length
        self.microbatch_units = (max(1, config.max_microbatch_size // self.length)
                                 if config.max_microbatch_size else self.count)

    def per_minibatch(self, minibatch_size: int) -> int:
        return max(1, minibatch_size // self.length)

    def draw(self, advantages: torch.Tensor, prio_alpha: float, beta: float
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(unit indices in the order the minibatches take them, importance weights per unit
        or None). Uniform: a permutation. Prioritized: `count` draws with replacement."""
        device = advantages.device
        if prio_alpha == 0:
            return torch.randperm(self.count, device=device), None
        probabilities = segment_probabilities(advantages, prio_alpha)
        order = torch.multinomial(probabilities, self.count, replacement=True)
        return order, importance_weights(probabilities, beta)


def segment_probabilities(advantages: torch.Tensor, prio_alpha: float) -> torch.Tensor:
    """P(segment) = p_s / sum p, p_s = (sum_t |A_s,t|)^prio_alpha. prio_alpha = 0 gives exactly
    1 / segments (0^0 = 1 too: an all-zero segment is as likely as any)."""
    priorities = advantages.abs().sum(1).pow(prio_alpha)
    total = priorities.sum()
    if not torch.isfinite(total) or total <= 0:  # every advantage 0: nothing to prefer
        return torch.full_like(priorities, 1.0 / priorities.numel())
    return priorities / total


def importance_weights(probabilities: torch.Tensor, beta: float) -> torch.Tensor:
    """(N P)^-beta per segment: 1 for a segment drawn as often as uniform sampling would draw
    it, below 1 for favoured ones (Schaul et al., 2016, without their division by the maximum)."""
    return (probabilities.numel() * probabilities).pow(-beta)
