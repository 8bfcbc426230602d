"""What a game module tells the shared env wrappers (envs/vector_env.py, envs/single_env.py).

A game has two parts, which its env classes name (`class MyGameEnv(ShoalEnv, game=MyGame,
presentation=MyGamePresentation)`). Its `Game` holds the rules: it declares its keyword
parameters once (`PARAMETERS`, envs/parameters.py), from which its constructor, checks,
`parameters()`, its core's keywords and the docs table are derived, and its methods describe
the spaces and name the native core. Its `Presentation` says how it is shown and played:
the scene that draws it (render/scenes/), the state of one world the scene receives, the
real-time rate and the keys. A presentation imports its scene and the play loop's Controls
only when they are asked for, so importing shoal and stepping an env import nothing of
render/.

Everything else (buffers, seeding, autoreset, time limits, action checks, infos, episode
statistics, threading, rendering) is shared and lives once in the wrappers and
cython_ext/core.pyx.
"""

from __future__ import annotations

import abc
import inspect
import textwrap
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium

from shoal.parameters import Parameter, parameters_table

if TYPE_CHECKING:
    from shoal.render.play import Controls
    from shoal.render.scene import Scene


class Game(abc.ABC):
    """A game's rules. `MyGame(**parameters)` checks each keyword against its declaration,
    then the checks that tie several together (check_together)."""

    #: The keyword parameters, in the order of the docs table (envs/parameters.py).
    PARAMETERS: ClassVar[tuple[Parameter, ...]] = ()
    #: The native core, a VectorCore subclass: make_core builds it from core_arguments().
    core_class: ClassVar[type]
    #: A multi-agent game's parameter that sets its agents per world, which the core takes as
    #: its second argument rather than as a keyword; None: one agent per world.
    agents_parameter: ClassVar[str | None] = None
    #: Names of the game's per-episode statistics, in the order the core writes them
    #: (write_game_stats); the loop adds "return" and "length" in front.
    stat_names: ClassVar[tuple[str, ...]] = ()
    #: The statistic the trainer logs, plots and checks as the game's score.
    score_stat: ClassVar[str] = "score"
    #: False for games that exist only as many agents in one world (make_vec only).
    single_agent: ClassVar[bool] = True
    #: Default time limit (a truncation); None for none.
    default_max_episode_steps: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        # help(MyGame), IDEs and inspect.signature show the declared keywords and defaults.
        cls.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
            inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default)
            for p in cls.PARAMETERS])

    def __init__(self, **values: Any):
        declared = [p.name for p in self.PARAMETERS]
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {unknown}; "
                            f"its parameters are {declared}")
        for parameter in self.PARAMETERS:
            value = values.get(parameter.name, parameter.default)
            setattr(self, parameter.attribute_name, parameter.validated(value))
        self.check_together()

    def check_together(self) -> None:
        """Raise a ValueError naming the parameter if values that were each valid do not fit
        together (a maze's max_size below its min_size, say). None by default."""

    def parameters(self) -> dict[str, Any]:
        """The validated parameters by name: for repr, states and the docs."""
        return {p.name: getattr(self, p.attribute_name) for p in self.PARAMETERS}

    def core_arguments(self) -> dict[str, Any]:
        """The core's keyword arguments: the parameters (but the agents per world, which
        make_core passes first), unless the core takes some in another form (a code for a
        name, say: then override this and start from super().core_arguments())."""
        arguments = self.parameters()
        arguments.pop(self.agents_parameter, None)
        return arguments

    def make_core(self, num_worlds: int) -> Any:
        """Build the game's core for `num_worlds` worlds."""
        return self.core_class(num_worlds, self.agents_per_world(), **self.core_arguments())

    def agents_per_world(self) -> int:
        """Rows (agents) per world; num_envs must be a multiple of it."""
        return 1 if self.agents_parameter is None else self.parameters()[self.agents_parameter]

    @abc.abstractmethod
    def observation_space(self) -> gymnasium.spaces.Box:
        """The space of one row's observation (a Box: the core writes fixed-size rows)."""

    @abc.abstractmethod
    def action_space(self) -> gymnasium.spaces.Discrete | gymnasium.spaces.Box:
        """The space of one row's action."""


class Presentation(abc.ABC):
    """How a game is shown and played. Made from the game's validated parameters; its
    methods import the scene and the controls' module only when called."""

    #: What render_view's two values show, for the env's docs (shared_arguments_doc).
    render_view_doc: ClassVar[str] = ('`"world"`, or `"agent"` for a camera on the drawn agent '
                                      'where the scene has one')

    def __init__(self, game: Game):
        self.game = game

    @abc.abstractmethod
    def make_scene(self, view: str) -> Scene:
        """The game's scene; view is "world" (the whole world) or "agent" (a camera on the
        followed agent, where the scene has one; otherwise the same as "world")."""

    def scene_state(self, core: Any, world: int, agent: int) -> dict[str, Any]:
        """What the scene draws for `agent` of `world` (the wrapper adds "step"): the core's
        state(world), unless the game's scene needs more (which agent it follows, say)."""
        return core.state(world)

    @abc.abstractmethod
    def render_fps(self) -> int:
        """Steps shown per second in a window, and the frame rate of videos."""

    @abc.abstractmethod
    def controls(self) -> Controls:
        """The keys that play the game (shoal play, and get_keys_to_action for
        gymnasium.utils.play)."""


def bind_game(env_class: type, game: type[Game] | None, presentation: type[Presentation] | None,
              documented: bool) -> None:
    """What `class MyGameEnv(ShoalEnv, game=MyGame, presentation=MyGamePresentation)` does
    for both env bases: name the rules and their presentation (both or neither), and end the
    "## Arguments" of the class that documents the game with its generated part."""
    if game is None and presentation is None:
        return  # an abstract base, or a subclass that inherits both
    if game is None or presentation is None:
        raise TypeError(f"{env_class.__name__} must name both game= and presentation= "
                        f"(got game={game!r}, presentation={presentation!r})")
    env_class.game_class, env_class.presentation_class = game, presentation
    if documented:
        add_arguments_doc(env_class)


def shared_arguments_doc(game_class: type[Game], presentation_class: type[Presentation]) -> str:
    """The paragraph on the wrapper's arguments that ends every env's "## Arguments": written
    once here, added to each documented env class by add_arguments_doc."""
    views = presentation_class.render_view_doc
    if not game_class.single_agent:  # make_vec only
        return (
            "Shared by every shoal vector env: `max_episode_steps` (None for no limit), "
            "`autoreset_mode`, `num_threads` (worlds stepped in parallel), `render_mode` (None, "
            '`"rgb_array"` or `"human"`), `render_env_index` (the agent whose world is drawn and '
            f"whom the HUD follows, default 0) and `render_view` ({views})."
        )
    return (
        "Shared by every shoal env: `max_episode_steps` (None for no limit), `render_mode` "
        f'(None, `"rgb_array"` or `"human"`), `render_view` ({views}), '
        "and for `make_vec` also `autoreset_mode` (`AutoresetMode.NEXT_STEP`, `SAME_STEP` or "
        "`DISABLED`), `num_threads` (worlds stepped in parallel) and `render_env_index` (the "
        "sub-env `render()` draws, default 0)."
    )


def add_arguments_doc(env_class: type) -> None:
    """End the "## Arguments" section of an env class's docstring (before "## Version
    History") with the table of its game's parameters (parameters_table, from PARAMETERS) and
    the shared_arguments_doc paragraph, wrapped like the rest of it."""
    doc = env_class.__doc__
    marker = "    ## Version History"
    if not doc or "## Arguments" not in doc or marker not in doc:
        return
    game_class = env_class.game_class
    table = textwrap.indent(parameters_table(game_class.PARAMETERS), "    ")
    text = shared_arguments_doc(game_class, env_class.presentation_class)
    paragraph = textwrap.fill(text, width=92, initial_indent="    ", subsequent_indent="    ",
                              break_on_hyphens=False)
    env_class.__doc__ = doc.replace(marker, f"{table}\n\n{paragraph}\n\n{marker}", 1)
