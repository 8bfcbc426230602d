"""A game's parameters, declared once.

A game lists its keyword parameters as `Parameter`s: the name, the default, the check a
value must pass (envs/validation.py) and a line for the docs. Everything else is derived from
that one list by envs/game.py: the game's constructor and its signature, `parameters()`, the
keywords its native core is built with, and the table in the env's docs.

    PARAMETERS = (
        integer("frameskip", 4, 1, 8, "frames per step with the same action"),
        flag("continuous", False, "a `Box(-1, 1, (1,))` paddle velocity instead of 3 actions"),
        reward("reward_scale", 1.0, "multiplies the points (0: no points reward)", low=0.0),
    )

Checks that tie parameters together (a maze's max_size at least its min_size) are the game's
`check_together`; the doc line of such a parameter says the bound in words.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from shoal.validation import (
    MAX_REWARD_MAGNITUDE,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_reward,
)


@dataclass(frozen=True)
class Parameter:
    """One keyword parameter of a game."""

    name: str
    default: Any
    #: The docs table's "Meaning" column (the bounds are added after it).
    doc: str
    #: check(name, value) returns the value to keep, or raises a TypeError/ValueError naming it.
    check: Callable[[str, Any], Any]
    #: What the check accepts, in words, for the docs table ("1 to 8"); "" when `doc` says it.
    bounds: str = ""
    #: The game's attribute that holds the value, where `name` would shadow one of its methods
    #: (the MMO's agents_per_world).
    attribute: str = ""

    @property
    def attribute_name(self) -> str:
        return self.attribute or self.name

    def validated(self, value: Any) -> Any:
        return self.check(self.name, value)

    def with_default(self, default: Any, doc: str | None = None) -> Parameter:
        """The same parameter with another default (and doc line): a variant game's."""
        return replace(self, default=default, doc=self.doc if doc is None else doc)


def integer(name: str, default: int, low: int | None, high: int | None, doc: str,
            **extra: Any) -> Parameter:
    """An int in [low, high]. A bound that depends on another parameter is check_together's;
    say it in `bounds` ("0 to width * height - 1")."""
    return Parameter(name, default, doc, functools.partial(check_int, low=low, high=high),
                     **{"bounds": _interval(low, high), **extra})


def real(name: str, default: float, low: float | None, high: float | None, doc: str,
         **extra: Any) -> Parameter:
    """A finite float in [low, high] (a bound that depends on another parameter: as integer's)."""
    return Parameter(name, default, doc, functools.partial(check_float, low=low, high=high),
                     **{"bounds": _interval(low, high), **extra})


def reward(name: str, default: float, doc: str, low: float = -MAX_REWARD_MAGNITUDE) -> Parameter:
    """A reward, penalty or reward weight: finite, in [low, 1e6] so that no return overflows."""
    return Parameter(name, default, doc, functools.partial(check_reward, low=low),
                     bounds=_interval(low, MAX_REWARD_MAGNITUDE))


def flag(name: str, default: bool, doc: str) -> Parameter:
    return Parameter(name, default, doc, check_bool)


def choice(name: str, default: str, choices: Iterable[str], doc: str) -> Parameter:
    """One of a few names; `doc` says what each one means."""
    return Parameter(name, default, doc, functools.partial(check_choice, choices=tuple(choices)))


def custom(name: str, default: Any, check: Callable[[Any], Any], doc: str) -> Parameter:
    """A parameter with its own check(value), which names the parameter in its messages."""
    return Parameter(name, default, doc, lambda _name, value: check(value))


def parameters_table(parameters: Iterable[Parameter]) -> str:
    """The Markdown table of an env's docs: argument, default, meaning and bounds."""
    rows = [(f"`{p.name}`", _literal(p.default), f"{p.doc}; {p.bounds}" if p.bounds else p.doc)
            for p in parameters]
    header = ("Argument", "Default", "Meaning")
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(3)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(row) for row in rows)])


def _interval(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f"at least {_bound(low)}"
    if low is None:
        return f"at most {_bound(high)}"
    return f"{_bound(low)} to {_bound(high)}"


def _bound(value: float) -> str:
    """A bound as the docs write it: 8 to 288, not 8.0 to 288.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e5:
        return str(int(value))
    return _literal(value)


def _literal(value: Any) -> str:
    """A default or bound as the docs write it: "hover", 64.0, 1e6, 2.88e-8, None."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        mantissa, exponent = f"{value:.6g}".replace("e+", "e").split("e")
        return f"{mantissa}e{int(exponent)}"
    return repr(value)
