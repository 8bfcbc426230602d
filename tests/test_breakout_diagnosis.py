"""The instruments behind docs/breakout_diagnosis.md: the scripted tracker and the table of
steps to each score, computed from the committed curves."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tracker_catches_more_with_a_wider_paddle():
    tracker = load_script("breakout_tracker")
    narrow, narrow_episodes = tracker.track(64.0, num_envs=32, steps=1500, seed=0)
    wide, wide_episodes = tracker.track(96.0, num_envs=32, steps=1500, seed=0)
    assert narrow_episodes > 0 and wide_episodes > 0
    assert wide > narrow > 50  # far above random play (about 5)


def test_the_table_reports_steps_to_each_milestone(tmp_path):
    diagnosis = load_script("breakout_diagnosis")
    steps = np.arange(1, 201) * 500_000
    rows = ["experiment,seed,global_step,wall_time,score"]
    for step in steps:
        rows.append(f"a:fast,0,{step},{step / 1e5},{min(864.0, step / 50_000)}")
        rows.append(f"a:slow,0,{step},{step / 1e5},250")
    (tmp_path / "curves.csv").write_text("\n".join(rows) + "\n")
    curves = diagnosis.read_curves(tmp_path / "curves.csv")
    table = diagnosis.table(curves)
    fast = next(line for line in table.splitlines() if "a:fast" in line)
    slow = next(line for line in table.splitlines() if "a:slow" in line)
    # 400 is first reached by the running mean of the last 5% of the steps at ~20.5M.
    reached = diagnosis.steps_to_score(curves["a:fast"][0], 400)
    assert 20e6 < reached < 21.5e6 and f"{reached / 1e6:.1f}M" in fast
    assert "never" in slow and math.isinf(diagnosis.steps_to_score(curves["a:slow"][0], 400))
    diagnosis.plot(curves, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    diagnosis.plot(curves, tmp_path / "a.png", panels=["a"])
    assert (tmp_path / "a.png").stat().st_size > 10_000
    with pytest.raises(SystemExit, match=r"\['b'\] are not in the curves; they hold \['a'\]"):
        diagnosis.plot(curves, tmp_path / "b.png", panels=["b"])


def test_more_panels_than_fit_in_a_row_wrap_onto_a_grid(tmp_path):
    import matplotlib.image

    diagnosis = load_script("breakout_diagnosis")
    rows = ["experiment,seed,global_step,wall_time,score"]
    for panel in range(diagnosis.PANELS_PER_ROW + 1):
        rows += [f"{panel}:run,0,{step},{step / 1e5},{step / 1e5}" for step in (1e6, 2e6, 3e6)]
    (tmp_path / "curves.csv").write_text("\n".join(rows) + "\n")
    diagnosis.plot(diagnosis.read_curves(tmp_path / "curves.csv"), tmp_path / "grid.png")
    height, width = matplotlib.image.imread(tmp_path / "grid.png").shape[:2]
    # Two rows of PANELS_PER_ROW panels of 6.5 x 4.8 inches, not one row of five.
    assert (width, height) == (round(6.5 * diagnosis.PANELS_PER_ROW * 110), round(4.8 * 2 * 110))


def test_a_run_is_added_once_with_its_gradient_norms(tmp_path):
    diagnosis = load_script("breakout_diagnosis")
    curves = tmp_path / "curves.csv"
    curves.write_text(",".join(diagnosis.COLUMNS) + "\n" + "a:old,0,65536,1.0,5.0,\n")
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("update,global_step,wall_time,score,grad_norm\n"
                       "1,65536,0.5,nan,12.5\n2,131072,1.0,7.25,0.25\n")
    assert diagnosis.add_run(curves, "b:new", 3, metrics) == 2
    read = diagnosis.read_curves(curves)
    assert list(read["b:new"][3].steps) == [65536, 131072] and read["b:new"][3].scores[1] == 7.25
    assert list(read["a:old"][0].scores) == [5.0]  # the old rows are kept as they were
    norms = diagnosis.read_grad_norms(curves)
    assert set(norms) == {"b:new"}  # a run without kept norms has none, not zeros
    steps, grad_norms = norms["b:new"][3]
    assert list(steps) == [65536, 131072] and list(grad_norms) == [12.5, 0.25]
    # The same run twice would count twice in the table: refused.
    with pytest.raises(SystemExit, match="already in"):
        diagnosis.add_run(curves, "b:new", 3, metrics)
    diagnosis.plot_grad_norms(norms, tmp_path / "grad_norm.png")
    assert (tmp_path / "grad_norm.png").stat().st_size > 10_000


def test_adding_a_file_that_is_not_a_metrics_csv_is_a_clear_refusal(tmp_path):
    diagnosis = load_script("breakout_diagnosis")
    curves = tmp_path / "curves.csv"
    curves.write_text(",".join(diagnosis.COLUMNS) + "\n")
    (tmp_path / "other.csv").write_text("step,score\n1,2\n")
    for metrics in (tmp_path / "other.csv", tmp_path / "missing.csv"):
        with pytest.raises(SystemExit, match="is not a shoal metrics.csv with the columns"):
            diagnosis.add_run(curves, "b:new", 0, metrics)
    assert curves.read_text() == ",".join(diagnosis.COLUMNS) + "\n"  # nothing written


def test_adams_gradient_scales_are_read_from_a_checkpoint(tmp_path):
    pytest.importorskip("torch")
    from shoal.trainer import ppo
    from shoal.trainer.config import load_config
    from shoal.trainer.policies import make_policy

    diagnosis = load_script("breakout_diagnosis")
    config = load_config("breakout", overrides=[
        "--num-envs", "8", "--horizon", "16", "--minibatch-size", "32", "--hidden-size", "16",
        "--torch-threads", "1", "--num-threads", "1", "--checkpoint-interval", "0",
        "--total-timesteps", "256", "--value-lr-scale", "2.0"])
    ppo.train(config, tmp_path, quiet=True)
    steps, rows = diagnosis.adam_scales(tmp_path / "checkpoints" / "latest.pt")
    names = [name for name, _, _ in rows]
    assert steps == 256 and sorted(names) == sorted(
        name for name, _ in make_policy(config, *spaces(config)).named_parameters())
    assert all(scale > 0 and 0.0 <= under <= 1.0 for _, scale, under in rows)
    # The value head, in its own parameter group at this scale, is found by name too.
    assert {"critic.weight", "critic.bias"} <= set(names)


def test_a_checkpoint_adam_state_cannot_be_read_from_is_a_clear_refusal(tmp_path, capsys):
    pytest.importorskip("torch")
    from shoal.trainer.pretrained import PRETRAINED_DIR

    diagnosis = load_script("breakout_diagnosis")
    with pytest.raises(SystemExit):
        diagnosis.adam_scales(tmp_path / "missing.pt")
    assert "missing.pt does not exist" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit):
        diagnosis.adam_scales(tmp_path / "junk.pt")
    assert "cannot read checkpoint" in capsys.readouterr().err
    # A shipped policy keeps its weights only: no Adam state to read.
    with pytest.raises(SystemExit, match="holds no optimizer state"):
        diagnosis.adam_scales(PRETRAINED_DIR / "breakout.pt")


def spaces(config):
    import gymnasium

    envs = gymnasium.make_vec(config.env_id, num_envs=1, **config.env)
    envs.close()
    return envs.single_observation_space, envs.single_action_space
