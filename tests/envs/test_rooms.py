"""The rules apart from their presentation: importing shoal and stepping every env, single and
vector, imports nothing of render/ (scenes, canvases, the play loop) nor the drone's assisted
flight; drawing one frame then brings in only what it draws with."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, sys
import gymnasium, numpy as np, shoal

for env_id in shoal.ENV_IDS:
    agents = shoal.vector_env_class(env_id).game_for().agents_per_world()
    envs = gymnasium.make_vec(env_id, num_envs=agents)
    envs.reset(seed=0)
    envs.step(envs.action_space.sample())
    envs.close()
for env_id in ("shoal/Breakout-v0", "shoal/Drone-v0"):
    env = gymnasium.make(env_id)
    env.reset(seed=0)
    env.step(env.action_space.sample())
stepped = sorted(m for m in sys.modules if m.startswith("shoal.render") or m == "shoal.drone_play")
envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=1, render_mode="rgb_array")
envs.reset(seed=0)
frame = envs.render()
drawn = sorted(m for m in sys.modules if m.startswith("shoal.render.scenes"))
print(json.dumps({"stepped": stepped, "drawn": drawn, "frame": list(frame.shape)}))
"""


def test_stepping_imports_no_presentation_and_drawing_imports_only_its_scene():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            timeout=120, check=True)
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["stepped"] == []
    assert seen["drawn"] == ["shoal.render.scenes", "shoal.render.scenes.breakout"]
    assert seen["frame"][2] == 3
