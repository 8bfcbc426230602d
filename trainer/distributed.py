"""Data-parallel training across processes: `torchrun --nproc-per-node N -m shoal.trainer.cli train ...`.

Every rank steps its own envs (the rows of rank r are seeded from seed + r * num_envs, so no
two ranks play the same episodes), computes gradients on its own batch, and
torch.nn.parallel.DistributedDataParallel averages the gradients across ranks during the
backward pass, so every rank applies the same step and the parameters stay identical.
Rank 0 alone prints, writes metrics.csv and checkpoints. The backend is NCCL on GPUs and
gloo on CPUs.

Without torchrun's environment (WORLD_SIZE unset or 1) everything here is a no-op: a plain
single-process run.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class Distributed:
    """Where this process stands in the run: its rank among world_size processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that logs and checkpoints."""
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The elementwise sum of `tensor` over all ranks, in place (unchanged when alone)."""
        if not self.enabled:
            return tensor
        if dist.get_backend() == "nccl" and not tensor.is_cuda:  # NCCL reduces GPU tensors only
            on_gpu = tensor.cuda()
            dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
            return tensor.copy_(on_gpu.cpu())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any_rank(self, flag: bool) -> bool:
        """Whether `flag` is True on any rank: a decision every rank then takes together."""
        if not self.enabled:
            return flag
        return bool(self.all_reduce_sum(torch.tensor([float(flag)])).item() > 0)

    def parameters_agree(self, module: torch.nn.Module) -> bool:
        """Whether every rank holds exactly the same parameters and buffers (the elementwise
        minimum and maximum over ranks are equal). True when alone."""
        if not self.enabled:
            return True
        tensors = [*module.parameters(), *module.buffers()]
        flat = torch.cat([tensor.detach().reshape(-1).double() for tensor in tensors])
        low, high = flat.clone(), flat.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        return torch.equal(low, high)

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            # Every rank leaves together: a rank tearing gloo down while another still talks
            # to it can abort the process at exit.
            dist.barrier()
            dist.destroy_process_group()


def setup_distributed(device: str) -> Distributed:
    """Join torchrun's process group when WORLD_SIZE > 1 (NCCL for CUDA, gloo for the CPU);
    on CUDA each rank takes the GPU of its LOCAL_RANK."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_gpu = torch.device(device).type == "cuda"
    if on_gpu:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank)


def rank_device(device: str, distributed: Distributed) -> torch.device:
    """The device of this rank: "cuda" becomes "cuda:<local rank>" in a distributed run."""
    device_ = torch.device(device)
    if distributed.enabled and device_.type == "cuda" and device_.index is None:
        return torch.device("cuda", distributed.local_rank)
    return device_
