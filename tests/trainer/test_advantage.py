"""The advantage op: the CPU kernel and the CUDA kernel equal the torch reference, and the
reference itself follows the definition in its limiting cases."""

from __future__ import annotations

import math
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from shoal.trainer import advantage  # noqa: E402
from shoal.trainer.advantage import compute_advantages, reference_advantages  # noqa: E402

KERNEL = Path(advantage.__file__).resolve().parent / "advantage_kernel.cu"


def random_inputs(segments: int, horizon: int, seed: int, done_rate: float = 0.1,
                  device: str = "cpu"):
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(segments, horizon, generator=generator)
    rewards = torch.randn(segments, horizon, generator=generator)
    dones = (torch.rand(segments, horizon, generator=generator) < done_rate).float()
    ratios = torch.exp(0.5 * torch.randn(segments, horizon, generator=generator))
    next_value = torch.randn(segments, generator=generator)
    return [t.to(device) for t in (values, rewards, dones, ratios, next_value)]


def both(inputs, **kwargs):
    return compute_advantages(*inputs, **kwargs), reference_advantages(*inputs, **kwargs)


@settings(max_examples=60, deadline=None)
@given(
    segments=st.integers(1, 70),
    horizon=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    gamma=st.floats(0.0, 1.0),
    gae_lambda=st.floats(0.0, 1.0),
    rho_clip=st.sampled_from([0.5, 1.0, 2.0, math.inf]),
    c_clip=st.sampled_from([0.5, 1.0, 2.0, math.inf]),
    done_rate=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
)
def test_cpu_kernel_equals_the_reference(segments, horizon, seed, gamma, gae_lambda, rho_clip,
                                         c_clip, done_rate):
    inputs = random_inputs(segments, horizon, seed, done_rate)
    kernel, reference = both(inputs, gamma=gamma, gae_lambda=gae_lambda, rho_clip=rho_clip,
                             c_clip=c_clip)
    assert kernel.dtype == torch.float32 and kernel.shape == (segments, horizon)
    assert torch.equal(kernel, reference)  # the same float32 operations in the same order


def test_cpu_kernel_is_bit_identical_to_the_reference_and_threads_do_not_matter():
    inputs = random_inputs(300, 64, seed=1)
    reference = reference_advantages(*inputs, gamma=0.99, gae_lambda=0.95)
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            kernel = compute_advantages(*inputs, gamma=0.99, gae_lambda=0.95)
            assert torch.equal(kernel, reference)
    finally:
        torch.set_num_threads(previous)


def test_horizon_one():
    inputs = random_inputs(5, 1, seed=2)
    values, rewards, dones, ratios, next_value = inputs
    kernel, reference = both(inputs, gamma=0.9, gae_lambda=0.8, rho_clip=math.inf)
    expected = ratios[:, 0] * (rewards[:, 0] + 0.9 * (1 - dones[:, 0]) * next_value - values[:, 0])
    torch.testing.assert_close(kernel[:, 0], expected)
    torch.testing.assert_close(kernel, reference)


def test_all_done_gives_one_step_rewards_minus_values():
    values, rewards, _, _, next_value = random_inputs(8, 16, seed=3)
    dones, ratios = torch.ones(8, 16), torch.ones(8, 16)
    kernel, reference = both([values, rewards, dones, ratios, next_value], gamma=0.99,
                             gae_lambda=0.95)
    torch.testing.assert_close(kernel, rewards - values)
    torch.testing.assert_close(reference, rewards - values)


@pytest.mark.parametrize("ratio", [0.0, 1e30])
def test_extreme_ratios_are_clipped(ratio):
    values, rewards, dones, _, next_value = random_inputs(6, 10, seed=4)
    ratios = torch.full((6, 10), ratio)
    kernel, reference = both([values, rewards, dones, ratios, next_value], gamma=0.99,
                             gae_lambda=0.95, rho_clip=1.0, c_clip=1.0)
    torch.testing.assert_close(kernel, reference)
    assert torch.isfinite(kernel).all()
    if ratio == 0.0:
        assert torch.all(kernel == 0)
    else:  # clipped to 1: plain GAE
        plain = reference_advantages(values, rewards, dones, torch.ones(6, 10),
                                     next_value, gamma=0.99, gae_lambda=0.95)
        torch.testing.assert_close(kernel, plain)


def plain_gae(values, rewards, dones, next_value, gamma, gae_lambda):
    """Textbook GAE in numpy, written independently of both implementations."""
    values, rewards, dones = values.double().numpy(), rewards.double().numpy(), dones.double().numpy()
    segments, horizon = values.shape
    out = np.zeros((segments, horizon))
    for s in range(segments):
        last, next_v = 0.0, float(next_value[s])
        for t in reversed(range(horizon)):
            delta = rewards[s, t] + gamma * next_v * (1 - dones[s, t]) - values[s, t]
            last = delta + gamma * gae_lambda * (1 - dones[s, t]) * last
            out[s, t] = last
            next_v = values[s, t]
    return torch.from_numpy(out).float()


def test_infinite_clips_with_unit_ratios_give_plain_gae():
    values, rewards, dones, _, next_value = random_inputs(12, 20, seed=5)
    for ratios in (torch.ones(12, 20),):
        kernel = compute_advantages(values, rewards, dones, ratios, next_value, gamma=0.97,
                                    gae_lambda=0.9, rho_clip=math.inf, c_clip=math.inf)
        torch.testing.assert_close(kernel, plain_gae(values, rewards, dones, next_value, 0.97, 0.9),
                                   rtol=1e-5, atol=1e-5)


def test_infinite_clips_use_the_raw_ratios():
    values, rewards, dones, ratios, next_value = random_inputs(12, 20, seed=6)
    kernel = compute_advantages(values, rewards, dones, ratios, next_value, gamma=0.97,
                                gae_lambda=0.9, rho_clip=math.inf, c_clip=math.inf)
    clipped = compute_advantages(values, rewards, dones, ratios, next_value, gamma=0.97,
                                 gae_lambda=0.9)
    assert not torch.allclose(kernel, clipped)  # some ratios exceed 1
    torch.testing.assert_close(kernel, reference_advantages(
        values, rewards, dones, ratios, next_value, gamma=0.97, gae_lambda=0.9,
        rho_clip=math.inf, c_clip=math.inf))


def test_lambda_zero_gives_one_step_td_errors():
    values, rewards, dones, _, next_value = random_inputs(10, 12, seed=7)
    ratios = torch.ones(10, 12)
    kernel = compute_advantages(values, rewards, dones, ratios, next_value, gamma=0.9,
                                gae_lambda=0.0)
    next_values = torch.cat([values[:, 1:], next_value[:, None]], dim=1)
    td = rewards + 0.9 * (1 - dones) * next_values - values
    torch.testing.assert_close(kernel, td)


def test_gamma_lambda_one_without_dones_sums_future_rewards():
    values, rewards, _, _, next_value = random_inputs(7, 15, seed=8)
    dones, ratios = torch.zeros(7, 15), torch.ones(7, 15)
    kernel = compute_advantages(values, rewards, dones, ratios, next_value, gamma=1.0,
                                gae_lambda=1.0)
    future = torch.flip(torch.cumsum(torch.flip(rewards, [1]), 1), [1])
    torch.testing.assert_close(kernel, future + next_value[:, None] - values, rtol=1e-5,
                               atol=1e-5)


def test_non_contiguous_inputs_and_grad_tensors_work():
    inputs = random_inputs(16, 24, seed=9)
    wide = [torch.stack([t, t], dim=-1)[..., 0] for t in inputs]  # strided views, equal to t
    assert not wide[0].is_contiguous()
    wide[0] = wide[0].clone().requires_grad_(True)
    kernel = compute_advantages(*wide, gamma=0.99, gae_lambda=0.95)
    torch.testing.assert_close(kernel, reference_advantages(*inputs, gamma=0.99, gae_lambda=0.95))


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(values=torch.zeros(4, 8, dtype=torch.float64)), TypeError, "values must be float32"),
        (dict(rewards=torch.zeros(4, 9)), ValueError, "rewards must have the shape of values"),
        (dict(next_value=torch.zeros(5)), ValueError, r"next_value must have shape \[S\]"),
        (dict(values=torch.zeros(32)), ValueError, r"values must have shape \[S, H\]"),
        (dict(dones=np.zeros((4, 8), np.float32)), TypeError, "dones must be a torch.Tensor"),
        (dict(gamma=1.5), ValueError, r"gamma must be a number in \[0.0, 1.0\]"),
        (dict(gae_lambda=-0.1), ValueError, "gae_lambda"),
        (dict(rho_clip=0.0), ValueError, "rho_clip must be a number > 0"),
        (dict(c_clip=float("nan")), ValueError, "c_clip"),
    ],
)
def test_bad_inputs(change, error, message):
    names = ("values", "rewards", "dones", "ratios", "next_value")
    arguments = dict(zip(names, random_inputs(4, 8, seed=0)))
    arguments.update(gamma=0.99, gae_lambda=0.95)
    arguments.update(change)
    with pytest.raises(error, match=message):
        compute_advantages(**arguments)


# ---- CUDA ----


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_cuda_kernel_source_compiles(tmp_path):
    result = subprocess.run(["nvcc", "-c", str(KERNEL), "-o", str(tmp_path / "kernel.o")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (100, 33), (8192, 64), (65536, 64)])
def test_cuda_kernel_equals_cpu_kernel_and_reference(shape):
    assert advantage.cuda_kernel() is not None, "the CUDA kernel did not build"
    cpu_inputs = random_inputs(*shape, seed=10)
    cuda_inputs = [t.cuda() for t in cpu_inputs]
    for clips in ((1.0, 1.0), (math.inf, math.inf), (0.5, 2.0)):
        kwargs = dict(gamma=0.99, gae_lambda=0.95, rho_clip=clips[0], c_clip=clips[1])
        on_gpu = compute_advantages(*cuda_inputs, **kwargs)
        assert on_gpu.is_cuda
        torch.testing.assert_close(on_gpu.cpu(), compute_advantages(*cpu_inputs, **kwargs))
        torch.testing.assert_close(on_gpu, reference_advantages(*cuda_inputs, **kwargs))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_fall_back_to_the_reference_when_the_kernel_cannot_build(monkeypatch):
    inputs = [t.cuda() for t in random_inputs(3, 5, seed=11)]
    monkeypatch.setattr(advantage, "cuda_kernel", lambda: None)
    result = advantage.compute_advantages(*inputs, gamma=0.9, gae_lambda=0.9)
    assert result.is_cuda
    torch.testing.assert_close(result, reference_advantages(*inputs, gamma=0.9, gae_lambda=0.9))


def test_a_failed_cuda_build_warns_once_and_is_remembered(monkeypatch):
    import torch.utils.cpp_extension as cpp_extension

    def failing_load(**kwargs):
        raise OSError("nvcc not found")

    monkeypatch.setattr(cpp_extension, "load", failing_load)
    advantage.cuda_kernel.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="nvcc not found"):
            assert advantage.cuda_kernel() is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert advantage.cuda_kernel() is None  # remembered: no second warning
    finally:
        advantage.cuda_kernel.cache_clear()
