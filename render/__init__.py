"""shoal.render: one scene per game, drawn headless (ArrayCanvas, render_mode="rgb_array") or
in a raylib window (RaylibCanvas, render_mode="human"), and the interactive play loop.

Never imports the envs or the trainer: a scene receives plain state (numbers and arrays), the
play loop an env object and a keyboard. raylib is imported only when a window opens.
"""

from shoal.render.array_canvas import ArrayCanvas
from shoal.render.canvas import Canvas
from shoal.render.scene import Scene, SceneView

__all__ = ["ArrayCanvas", "Canvas", "Scene", "SceneView"]
