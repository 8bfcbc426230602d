"""The Drone scene: a perspective view of the arena drawn with the canvas's 2-D primitives:
the ground grid, the hover target or the gates (the next one highlighted), a trail of the
drone's recent positions, the drone (arms, and rotor discs that tilt with it), and the HUD.

A pinhole camera projects world points (metres, z up) to pixels; whatever lies behind the
camera's near plane is clipped away before projecting, so a line or a gate half behind the
camera is drawn up to the edge of the view. Nearer things cover farther ones: the gates, the
target and the drone are drawn from the farthest to the nearest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shoal.render.canvas import Canvas, Color
from shoal.render.scene import HUD_HEIGHT, Scene, draw_hud

WIDTH, HEIGHT = 800, 600  # the frame, HUD included; both even
#: The horizontal field of view, and the near plane's distance (m).
FIELD_OF_VIEW = math.radians(70)
NEAR = 0.05
#: "world": a fixed camera behind the arena's -x edge, looking across it (+x into the screen).
WORLD_CAMERA_POSITION = (-10.0, 0.0, 6.5)
WORLD_CAMERA_TARGET = (0.5, 0.0, 0.5)
#: "agent": a camera chasing the drone, this far behind it (along its heading) and above it.
CHASE_DISTANCE, CHASE_HEIGHT = 0.9, 0.35
#: The drone drawn larger than life in the world view, where a 9 cm drone would be a speck.
DRONE_SCALE = {"world": 4.0, "agent": 1.0}
#: Steps of trail kept (2 s at 50 steps a second).
TRAIL_LENGTH = 100
GRID_SPACING = 1.0  # metres between ground lines
ROTOR_SIDES = 12  # a rotor disc is drawn as a 12-gon in the rotor plane

SKY: Color = (22, 26, 38)
GROUND: Color = (30, 34, 30)
FLOOR: Color = (38, 46, 40)  # the arena's floor
GRID: Color = (62, 74, 64)
BOUNDS: Color = (110, 120, 140)
SHADOW: Color = (20, 24, 20)
TRAIL: Color = (90, 160, 230)
ARM: Color = (200, 200, 210)
FRONT_ROTOR: Color = (240, 120, 60)  # rotors 0 and 3: the drone's front
BACK_ROTOR: Color = (120, 180, 240)
BODY: Color = (245, 245, 245)
TARGET: Color = (90, 230, 120)
NEXT_GATE: Color = (250, 210, 70)
SECOND_GATE: Color = (170, 140, 70)
OTHER_GATE: Color = (90, 96, 120)

VIEWS = ("world", "agent")


class Camera:
    """A pinhole camera without roll: `position` looking at `target`, its image centred in
    the view (the frame below the HUD)."""

    def __init__(self, position: Sequence[float], target: Sequence[float]):
        self.position = np.asarray(position, dtype=np.float64)
        forward = np.asarray(target, dtype=np.float64) - self.position
        self.forward = forward / np.linalg.norm(forward)
        right = np.cross(self.forward, (0.0, 0.0, 1.0))
        if np.linalg.norm(right) < 1e-9:  # looking straight up or down: any right will do
            right = np.array([0.0, -1.0, 0.0])
        self.right = right / np.linalg.norm(right)
        self.up = np.cross(self.right, self.forward)
        self.focal = (WIDTH / 2) / math.tan(FIELD_OF_VIEW / 2)  # pixels
        self.centre = (WIDTH / 2, HUD_HEIGHT + (HEIGHT - HUD_HEIGHT) / 2)

    def to_camera(self, points: Any) -> np.ndarray:
        """World points [n, 3] as (right, up, depth) in metres."""
        offsets = np.asarray(points, dtype=np.float64).reshape(-1, 3) - self.position
        return np.stack([offsets @ self.right, offsets @ self.up, offsets @ self.forward], axis=1)

    def to_pixels(self, camera_points: np.ndarray) -> np.ndarray:
        """Camera points in front of the near plane [n, 3] as pixels [n, 2]."""
        depth = camera_points[:, 2]
        x = self.centre[0] + self.focal * camera_points[:, 0] / depth
        y = self.centre[1] - self.focal * camera_points[:, 1] / depth
        return np.stack([x, y], axis=1)

    def project(self, points: Any) -> np.ndarray | None:
        """World points [n, 3] as pixels [n, 2], or None if any lies behind the near plane."""
        camera_points = self.to_camera(points)
        if (camera_points[:, 2] < NEAR).any():
            return None
        return self.to_pixels(camera_points)

    def segment(self, a: Any, b: Any) -> tuple[float, float, float, float] | None:
        """The segment a-b in pixels, clipped at the near plane; None if wholly behind it."""
        (ca, cb) = self.to_camera([a, b])
        if ca[2] < NEAR and cb[2] < NEAR:
            return None
        if ca[2] < NEAR:
            ca = ca + (cb - ca) * (NEAR - ca[2]) / (cb[2] - ca[2])
        elif cb[2] < NEAR:
            cb = cb + (ca - cb) * (NEAR - cb[2]) / (ca[2] - cb[2])
        (x0, y0), (x1, y1) = self.to_pixels(np.stack([ca, cb]))
        return float(x0), float(y0), float(x1), float(y1)

    def polygon(self, points: Any) -> list[tuple[float, float]] | None:
        """A convex world polygon in pixels, clipped at the near plane (Sutherland-Hodgman
        against that one plane); None if less than a triangle is left."""
        corners = self.to_camera(points)
        kept = []
        for current, following in zip(corners, np.roll(corners, -1, axis=0)):
            current_in, following_in = current[2] >= NEAR, following[2] >= NEAR
            if current_in:
                kept.append(current)
            if current_in != following_in:
                t = (NEAR - current[2]) / (following[2] - current[2])
                kept.append(current + (following - current) * t)
        if len(kept) < 3:
            return None
        return [(float(x), float(y)) for x, y in self.to_pixels(np.array(kept))]

    def depth(self, point: Any) -> float:
        return float(self.to_camera(point)[0, 2])

    def pixels_per_metre(self, point: Any) -> float:
        """How many pixels one metre spans at `point`'s depth (0 behind the camera)."""
        depth = self.depth(point)
        return self.focal / depth if depth >= NEAR else 0.0


class DroneScene(Scene):
    """Draws the state `DroneCore.state(world)` returns plus "step" (the episode's steps so
    far): task ("hover" or "race"), position, rotation (R, body to world, [3, 3]), velocity,
    target, gate_centres [n, 3], gate_forwards [n, 3], gate_size, next_gate, gates_passed and
    parameters["arm_length"].

    view="world" looks across the whole arena from a fixed camera; view="agent" chases the
    drone. The geometry comes from the game through the constructor: the arena's half width
    and height, the gates' frame width, the hover radius, and rotor_positions, each rotor's
    (x, y) in units of arm_length / sqrt(2) (a rotor with x > 0 is drawn as a front one). The
    scene keeps the trail itself, the last TRAIL_LENGTH positions it was shown; it starts a
    new trail when "step" goes back (a new episode).
    """

    def __init__(
        self,
        *,
        view: str = "world",
        arena_half_width: float,
        arena_height: float,
        gate_frame_width: float,
        hover_radius: float,
        rotor_positions: Sequence[tuple[float, float]],
    ):
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.view = view
        self.arena_half_width = float(arena_half_width)
        self.arena_height = float(arena_height)
        self.gate_frame_width = float(gate_frame_width)
        self.hover_radius = float(hover_radius)
        self.rotor_positions = np.array(rotor_positions, dtype=np.float64).reshape(-1, 2)
        self.width, self.height = WIDTH, HEIGHT
        self.trail: list[np.ndarray] = []
        self.last_step: int | None = None
        self.heading = np.array([1.0, 0.0, 0.0])  # the chase camera's, kept when level fails

    # ---- The camera ----

    def camera(self, state: Mapping[str, Any]) -> Camera:
        """The camera that draws `state`: fixed, or behind the drone along its heading."""
        if self.view == "world":
            return Camera(WORLD_CAMERA_POSITION, WORLD_CAMERA_TARGET)
        position = np.asarray(state["position"], dtype=np.float64)
        nose = np.asarray(state["rotation"], dtype=np.float64)[:, 0]
        level = np.array([nose[0], nose[1], 0.0])
        if np.linalg.norm(level) > 0.1:  # nose not straight up or down: follow it
            self.heading = level / np.linalg.norm(level)
        eye = position - CHASE_DISTANCE * self.heading + np.array([0.0, 0.0, CHASE_HEIGHT])
        return Camera(eye, position + 0.5 * self.heading)

    # ---- Drawing ----

    def draw(self, canvas: Canvas, state: Mapping[str, Any]) -> None:
        position = np.asarray(state["position"], dtype=np.float64)
        self.remember(position, int(state["step"]))
        camera = self.camera(state)
        self.draw_ground(canvas, camera)
        self.draw_shadow(canvas, camera, state)
        self.draw_trail(canvas, camera)
        # The gates, the target and the drone, farthest first.
        things = [(camera.depth(position), "drone", 0)]
        if state["task"] == "race":
            things += [(camera.depth(centre), "gate", index)
                       for index, centre in enumerate(state["gate_centres"])]
        else:
            things.append((camera.depth(state["target"]), "target", 0))
        for _, kind, index in sorted(things, key=lambda thing: -thing[0]):
            if kind == "gate":
                self.draw_gate(canvas, camera, state, index)
            elif kind == "target":
                self.draw_target(canvas, camera, state["target"])
            else:
                self.draw_drone(canvas, camera, state)
        draw_hud(canvas, self.width, self.hud_items(state))

    def remember(self, position: np.ndarray, step: int) -> None:
        """Add the position to the trail. The same step drawn again (a paused game) adds
        nothing; a step count that went back, or the same count elsewhere, is a new episode."""
        same_frame = step == self.last_step and bool(self.trail) and np.array_equal(
            self.trail[-1], position)
        if same_frame:
            return
        if self.last_step is None or step <= self.last_step:
            self.trail = []
        self.trail.append(position.copy())
        del self.trail[:-TRAIL_LENGTH]
        self.last_step = step

    def hud_items(self, state: Mapping[str, Any]) -> list[tuple[str, Any]]:
        position = np.asarray(state["position"], dtype=np.float64)
        speed = float(np.linalg.norm(state["velocity"]))
        if state["task"] == "race":
            goal = np.asarray(state["gate_centres"][state["next_gate"]])
            first = [("RACE", ""), ("GATES", int(state["gates_passed"]))]
        else:
            goal = np.asarray(state["target"])
            first = [("HOVER", "")]
        distance = float(np.linalg.norm(goal - position))
        return [*first, ("DIST", f"{distance:.2f}M"), ("SPEED", f"{speed:.1f}M/S"),
                ("STEP", state["step"])]

    def draw_ground(self, canvas: Canvas, camera: Camera) -> None:
        canvas.clear(SKY)
        # Below the horizon (where level directions meet the image) lies ground.
        level = np.array([camera.forward[0], camera.forward[1], 0.0])
        if np.linalg.norm(level) > 1e-6:
            far = camera.position + 1e4 * level / np.linalg.norm(level)
            horizon = camera.to_pixels(camera.to_camera(far))[0, 1]
            top = float(np.clip(horizon, HUD_HEIGHT, self.height))
            canvas.rect(0, top, self.width, self.height - top, GROUND)
        w, z = self.arena_half_width, 0.0
        floor = camera.polygon([(-w, -w, z), (w, -w, z), (w, w, z), (-w, w, z)])
        if floor:
            canvas.polygon(floor, FLOOR)
        # Grid lines in 1 m pieces: each piece's bounding box stays small for the rasterizer.
        ticks = np.arange(-w, w + 1e-9, GRID_SPACING)
        for fixed in ticks:
            colour = BOUNDS if abs(abs(fixed) - w) < 1e-9 else GRID
            for start, end in zip(ticks[:-1], ticks[1:]):
                self.line(canvas, camera, (fixed, start, z), (fixed, end, z), colour)
                self.line(canvas, camera, (start, fixed, z), (end, fixed, z), colour)
        # The corners' posts up to the ceiling show the arena's volume.
        for x in (-w, w):
            for y in (-w, w):
                self.line(canvas, camera, (x, y, 0.0), (x, y, self.arena_height), BOUNDS)

    def line(self, canvas: Canvas, camera: Camera, a: Any, b: Any, colour: Color,
             thickness: float = 1.0) -> None:
        segment = camera.segment(a, b)
        if segment is not None:
            canvas.line(*segment, colour, thickness)

    def disc(self, centre: np.ndarray, axis_a: np.ndarray, axis_b: np.ndarray,
             radius: float) -> np.ndarray:
        """The corners of a ROTOR_SIDES-gon of `radius` around `centre` in the plane of the
        two unit axes."""
        angles = np.arange(ROTOR_SIDES) * (2 * math.pi / ROTOR_SIDES)
        return (centre + radius * np.cos(angles)[:, None] * axis_a
                + radius * np.sin(angles)[:, None] * axis_b)

    def draw_shadow(self, canvas: Canvas, camera: Camera, state: Mapping[str, Any]) -> None:
        position = np.asarray(state["position"], dtype=np.float64)
        radius = state["parameters"]["arm_length"] * DRONE_SCALE[self.view]
        ground = np.array([position[0], position[1], 0.001])
        flat = self.disc(ground, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), radius)
        shadow = camera.polygon(flat)
        if shadow:
            canvas.polygon(shadow, SHADOW)

    def draw_trail(self, canvas: Canvas, camera: Camera) -> None:
        for a, b in zip(self.trail[:-1], self.trail[1:]):
            self.line(canvas, camera, a, b, TRAIL, 2.0)

    def draw_target(self, canvas: Canvas, camera: Camera, target: Any) -> None:
        target = np.asarray(target, dtype=np.float64)
        self.line(canvas, camera, (target[0], target[1], 0.0), target, TARGET)
        pixels = camera.project([target])
        if pixels is not None:
            radius = max(self.hover_radius * camera.pixels_per_metre(target), 3.0)
            canvas.circle(pixels[0, 0], pixels[0, 1], radius, TARGET)

    def draw_gate(
        self, canvas: Canvas, camera: Camera, state: Mapping[str, Any], index: int
    ) -> None:
        """A gate's frame as four bars (quads between the opening and the outer square)."""
        count = len(state["gate_centres"])
        next_gate = int(state["next_gate"])
        colour = (NEXT_GATE if index == next_gate
                  else SECOND_GATE if index == (next_gate + 1) % count else OTHER_GATE)
        centre = np.asarray(state["gate_centres"][index], dtype=np.float64)
        forward = np.asarray(state["gate_forwards"][index], dtype=np.float64)
        side = np.array([-forward[1], forward[0], 0.0])
        up = np.array([0.0, 0.0, 1.0])
        inner = state["gate_size"] / 2
        outer = inner + self.gate_frame_width

        def at(a: float, b: float) -> np.ndarray:
            return centre + a * side + b * up

        bars = (
            [at(-outer, inner), at(outer, inner), at(outer, outer), at(-outer, outer)],  # top
            [at(-outer, -outer), at(outer, -outer), at(outer, -inner), at(-outer, -inner)],
            [at(-outer, -inner), at(-inner, -inner), at(-inner, inner), at(-outer, inner)],
            [at(inner, -inner), at(outer, -inner), at(outer, inner), at(inner, inner)],
        )
        for bar in bars:
            pixels = camera.polygon(bar)
            if pixels:
                canvas.polygon(pixels, colour)

    def draw_drone(self, canvas: Canvas, camera: Camera, state: Mapping[str, Any]) -> None:
        """Arms from the centre to the rotors, the rotor discs in the rotor plane (front ones
        orange), and the body's centre on top."""
        position = np.asarray(state["position"], dtype=np.float64)
        rotation = np.asarray(state["rotation"], dtype=np.float64)
        scale = DRONE_SCALE[self.view]
        arm = state["parameters"]["arm_length"] * scale
        lever = arm / math.sqrt(2)
        rotors = [position + rotation @ np.array([x * lever, y * lever, 0.0])
                  for x, y in self.rotor_positions]
        pixels_per_metre = camera.pixels_per_metre(position)
        thickness = max(2.0, 0.15 * arm * pixels_per_metre)
        # The rotors farther from the camera first, so the nearer ones cover them.
        for index in sorted(range(len(rotors)), key=lambda i: -camera.depth(rotors[i])):
            self.line(canvas, camera, position, rotors[index], ARM, thickness)
            disc = camera.polygon(self.disc(rotors[index], rotation[:, 0], rotation[:, 1], arm / 2))
            if disc:
                front = self.rotor_positions[index, 0] > 0
                canvas.polygon(disc, FRONT_ROTOR if front else BACK_ROTOR)
        centre = camera.project([position])
        if centre is not None:
            radius = max(3.0, 0.2 * arm * pixels_per_metre)
            canvas.circle(centre[0, 0], centre[0, 1], radius, BODY)
