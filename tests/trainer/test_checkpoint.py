"""Checkpoints hold model, optimizer, RNG state, step and config, load with weights_only=True,
and are written atomically: a failure during a write leaves the previous file intact."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from shoal.trainer import checkpoint as checkpoint_module  # noqa: E402
from shoal.trainer.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402


def model_and_optimizer(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()  # the optimizer now has state (exp_avg, exp_avg_sq, step)
    return model, optimizer


CONFIG = {"env_id": "shoal/Snake-v0", "gamma": 0.99, "rho_clip": math.inf, "anneal_lr": True,
          "env": {"width": 5}}


def test_roundtrip_with_weights_only(tmp_path):
    model, optimizer = model_and_optimizer(0)
    rng_state = torch.get_rng_state()
    path = tmp_path / "checkpoints" / "latest.pt"
    save_checkpoint(path, model, optimizer, step=12345, config=CONFIG, update=7)

    checkpoint = load_checkpoint(path)  # torch.load(..., weights_only=True) inside
    assert checkpoint["step"] == 12345 and checkpoint["update"] == 7
    assert checkpoint["config"] == CONFIG
    assert torch.equal(checkpoint["torch_rng_state"], rng_state)
    restored, restored_optimizer = model_and_optimizer(1)
    restored.load_state_dict(checkpoint["model"])
    restored_optimizer.load_state_dict(checkpoint["optimizer"])
    for a, b in zip(model.parameters(), restored.parameters()):
        assert torch.equal(a, b)
    state, restored_state = optimizer.state_dict()["state"], restored_optimizer.state_dict()["state"]
    assert torch.equal(state[0]["exp_avg"], restored_state[0]["exp_avg"])
    # weights_only=True loads it: nothing but tensors and plain values inside
    torch.load(path, weights_only=True)


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    model, optimizer = model_and_optimizer(0)
    save_checkpoint(path, model, optimizer, step=1, config=CONFIG)
    before = path.read_bytes()

    real_save = torch.save

    def save_then_crash(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)  # write everything, then truncate and die
        file.seek(0)
        file.truncate(10)
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", save_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, optimizer, step=2, config=CONFIG)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temporary file left


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")
