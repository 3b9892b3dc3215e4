"""The options a channel type takes, declared on its class, and checking a config's values."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


@dataclass(frozen=True)
class Option:
    """One key of a `[channels.NAME]` table: its type, whether it must be there, what it does.

    `secret` options name the environment variable that holds a secret (keys ending in `_env`);
    the secret itself is never a value in the file.
    """

    name: str
    # a tuple: any of these (an id written as text or a number); builtins.type, as the field
    # `type` hides the builtin inside the class
    type: builtins.type | tuple[builtins.type, ...]
    doc: str
    default: Any = None  # None: no default (or one the adapter works out, as `doc` says)
    required: bool = False
    secret: bool = False
    items: builtins.type | None = None  # for a list: the type of each item

    @property
    def type_name(self) -> str:
        kinds = self.type if isinstance(self.type, tuple) else (self.type,)
        return " or ".join(_type_name(kind, self.items) for kind in kinds)

    def accepts(self, value: Any) -> bool:
        """True when value has this option's type (an int is a number; a bool is no number)."""
        kinds = self.type if isinstance(self.type, tuple) else (self.type,)
        if list in kinds and isinstance(value, list):
            return all(_is(item, self.items) for item in value)
        return any(_is(value, kind) for kind in kinds if kind is not list)


ID = (str, int)  # an id: "123" or 123 in the file, both work


def _type_name(kind: type, items: type | None) -> str:
    if kind is list:
        return "a list" + (f" of {_TYPE_NAMES[items]}" if items in _TYPE_NAMES else "")
    return _TYPE_NAMES.get(kind, kind.__name__)


def _is(value: Any, kind: type | None) -> bool:
    if kind is None:
        return True
    if kind in (int, float) and isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


@dataclass(frozen=True)
class OptionProblem:
    """What is wrong with one key of a channel's table, and what to write instead."""

    key: str
    message: str
    hint: str


def option_problems(
    channel: str, kind: str, schema: Mapping[str, Option], values: Mapping[str, Any]
) -> list[OptionProblem]:
    """Every unknown key, value of the wrong type and missing required key, in file order."""
    problems = []
    valid = ", ".join(sorted(schema))
    for key, value in values.items():
        option = schema.get(key)
        if option is None:
            problems.append(
                OptionProblem(
                    key,
                    f"channel {channel!r} ({kind}) has no option {key!r}",
                    f"options of a {kind} channel: {valid}",
                )
            )
        elif not option.accepts(value):
            problems.append(
                OptionProblem(
                    key,
                    f"channel {channel!r}: {key} must be {option.type_name}, not {value!r}",
                    f"{key}: {option.doc}",
                )
            )
    for option in schema.values():
        if option.required and option.name not in values:
            example = '"COMMS_..."' if option.secret else "..."
            problems.append(
                OptionProblem(
                    option.name,
                    f"channel {channel!r} ({kind}) needs {option.name}",
                    f"add {option.name} = {example} to [channels.{channel}]: {option.doc}",
                )
            )
    return problems
