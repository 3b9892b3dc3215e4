"""The jinja2 environment templates run in: sandboxed, and with a budget of time and size.

Templates are written by officers, not programmers, and `validate` renders every one of them,
so a template must not reach Python's internals (jinja2's immutable sandbox: no `__class__`,
no `.mro()`, no changing the values it is given, no environment variables) and a typo must not
eat the machine: a loop with one `0` too many, a macro that calls itself with a doubled text.

The budget is MAX_SECONDS of wall time and MAX_CHARS of text per render. jinja2's sandbox
already refuses a single `range()` above MAX_RANGE; what is left is checked where a template
does work: every call (functions, macros, `range`), every step of a `range`, every `*`, `**`,
`%` and `+`, every value put into a `namespace()` and every piece of output. A text that
grows past MAX_CHARS is refused as soon as it is made, so a doubling never gets far.
Built-in filters that pad or split by a count (`center`, `indent`, ...) take at most MAX_CHARS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sized
from typing import Any

import jinja2
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import Cycler, Joiner, Namespace

MAX_SECONDS = 2.0
MAX_CHARS = 100_000  # far beyond any post (a site article is a few thousand characters)
MAX_POWER_BITS = 4096  # `2 ** 4096` is a number; `10 ** 10 ** 9` is an afternoon

_TOO_SLOW = f"rendering took longer than {MAX_SECONDS:g} seconds"
_DICT_ATTRIBUTES = frozenset(dir(dict))  # every name getattr finds on a dict (its class's)

# built-in filters whose number says how much text or how many pieces to make
_SIZED_FILTERS = ("center", "indent", "wordwrap", "slice", "batch", "truncate", "format")


class TemplateLimitError(jinja2.TemplateRuntimeError):
    """A render went past its budget of time or size."""


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment with a per-render budget (see the module's docstring)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._budget = threading.local()  # one deadline per thread: the web renders in threads
        self.globals.pop("lipsum", None)  # lipsum(n=10**9) is all filler, nothing a post needs
        self.globals["range"] = self._range
        self.globals["namespace"] = _namespace_of(self)
        self.globals["cycler"] = Cycler
        self.globals["joiner"] = Joiner
        for name in _SIZED_FILTERS:
            self.filters[name] = _bounded_filter(self.filters[name])

    # --- the budget ---------------------------------------------------------------------------

    def render(self, template: jinja2.Template, context: dict[str, Any]) -> str:
        """`template` rendered with `context` within the budget; TemplateLimitError past it."""
        deadline = self._budget.deadline = time.monotonic() + MAX_SECONDS
        try:
            size = 0
            parts: list[str] = []
            add, clock = parts.append, time.monotonic  # once: this loop runs for every piece
            for chunk in template.generate(context):
                size += len(chunk)
                if size > MAX_CHARS:
                    raise TemplateLimitError(f"the text grew past {MAX_CHARS} characters")
                if clock() > deadline:  # check_time, with this render's own deadline
                    raise TemplateLimitError(_TOO_SLOW)
                add(chunk)
            return "".join(parts)
        finally:
            self._budget.deadline = None

    def check_time(self) -> None:
        """Raise TemplateLimitError when the running render is past its deadline."""
        deadline = getattr(self._budget, "deadline", None)
        if deadline is not None and time.monotonic() > deadline:
            raise TemplateLimitError(_TOO_SLOW)

    # --- where a template does work -----------------------------------------------------------

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.check_time()
        for value in (*args, *kwargs.values()):  # a macro calling itself with a doubled text
            check_size(value)
        result = super().call(__context, __obj, *args, **kwargs)
        check_size(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        if operator == "**" and _too_large_power(left, right):
            raise TemplateLimitError(f"{left} ** {right} is too large a number")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, Sized) and isinstance(count, int) and _longer(seq, count):
                    raise TemplateLimitError(f"the text grew past {MAX_CHARS} characters")
        if operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else (right,)
            _check_counts(values)
        result = super().call_binop(context, operator, left, right)
        check_size(result)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.check_time()
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            # what the sandbox's getattr comes to for a plain dict (`event.date`, the values
            # every template reads), without raising and catching an AttributeError first:
            # a dict has no attribute but its class's, so the item is the answer, or nothing
            try:
                return obj[attribute]
            except LookupError:
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.check_time()
        return super().getitem(obj, argument)

    def _range(self, *args: int) -> _TimedRange:
        return _TimedRange(safe_range(*args), self.check_time)


class _TimedRange:
    """A range whose every step looks at the clock: nested loops end at the deadline too."""

    def __init__(self, numbers: range, check_time: Callable[[], None]) -> None:
        self._numbers = numbers
        self._check_time = check_time

    def __iter__(self) -> Iterator[int]:
        for number in self._numbers:
            self._check_time()
            yield number

    def __len__(self) -> int:
        return len(self._numbers)

    def __contains__(self, value: object) -> bool:
        return value in self._numbers

    def __getitem__(self, index: int) -> int:
        return self._numbers[index]


def _longer(seq: Sized, count: int) -> bool:
    return len(seq) * count > MAX_CHARS


def _too_large_power(base: object, exponent: object) -> bool:
    if not isinstance(base, int) or not isinstance(exponent, int) or abs(base) <= 1:
        return False
    return exponent * max(base.bit_length(), 1) > MAX_POWER_BITS


def check_size(value: object) -> None:
    """Refuse a text or a list that is already past MAX_CHARS."""
    if isinstance(value, str | list | tuple) and len(value) > MAX_CHARS:
        raise TemplateLimitError(f"the text grew past {MAX_CHARS} characters")


def _check_counts(values: tuple[Any, ...] | dict[str, Any]) -> None:
    numbers = values.values() if isinstance(values, dict) else values
    for value in numbers:
        if isinstance(value, int) and abs(value) > MAX_CHARS:
            raise TemplateLimitError(f"{value} is too large a width or count")


def _bounded_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    """The built-in filter, refusing a width or count above MAX_CHARS."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_counts(tuple(a for a in args[1:] if isinstance(a, int)))
        _check_counts(kwargs)
        result = original(*args, **kwargs)
        check_size(result)
        return result

    # jinja2 passes the environment or context to filters marked so; keep the mark
    for mark in ("jinja_pass_arg",):
        if hasattr(original, mark):
            setattr(bounded, mark, getattr(original, mark))
    return bounded


def _namespace_of(env: LimitedEnvironment) -> type[Namespace]:
    class BoundedNamespace(Namespace):
        """`namespace()` whose values are checked as they are set (a text doubled in a loop)."""

        def __setitem__(self, name: str, value: Any) -> None:
            env.check_time()
            check_size(value)
            super().__setitem__(name, value)

    return BoundedNamespace
