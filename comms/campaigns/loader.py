"""Load campaign files (docs/campaigns.md) into typed specs; every error names file, line, fix.

The messages are the product here: an officer editing a file needs
"karneval.toml:14: unknown key 'chanels' in step 'optakt' (did you mean 'channels'?)". So the
checks are written out by hand rather than left to a schema library, the parser's positions
are kept, and `tomlsource` finds the lines of keys by scanning the text. A file's problems are
all reported at once (one per section), and so are the problems of every file in a folder:
fixing them one run at a time is slow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, time
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import tomli

from comms.campaigns.dates import EVENT_PREFIX, SLUG_RE, Align, parse_align
from comms.campaigns.events import EventSpec, Occurrence, parse_event
from comms.campaigns.images import image_name_problem
from comms.campaigns.toml_source import (
    Line,
    TomlSource,
    did_you_mean,
    key_problems,
    line_of,
    syntax_error,
)
from comms.content.clean import NUL_HINT, NUL_PROBLEM, has_controls, has_nul
from comms.content.links import link_problem
from comms.errors import CampaignError, DateRuleError

_T = TypeVar("_T")

TOP_KEYS = ("slug", "title", "focus_area", "description", "variables", "event", "steps")
TOP_REQUIRED = ("title", "focus_area", "event", "steps")
STEP_KEYS: tuple[str, ...] = (
    "name",
    "offset_days",
    "time",
    "anchor",
    "channels",
    "audience",
    "template",
)
STEP_KEYS += ("title", "link", "image", "alt", "event", "align", "link_from")
TOP_HINTS = {
    "event": "add an [event] table with date, span or series; see docs/campaigns.md",
    "steps": "add one or more [[steps]] tables; see docs/campaigns.md",
}
STEP_REQUIRED = ("offset_days", "time", "channels", "audience", "template")
_TIME = re.compile(r"^(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class LinkFrom:
    """The page a step links to: what an earlier step of the same occurrence published."""

    step: str
    channel: str
    line: int | None = None  # the line of `link_from = …`, for errors found later (validate)

    def __str__(self) -> str:
        return f"{self.step}.{self.channel}"


@dataclass(frozen=True)
class StepSpec:
    """One `[[steps]]` entry: when (relative to the event) and where one message goes."""

    name: str
    offset_days: int
    time: time  # local wall time; the planner applies the configured timezone
    anchor: str  # "start" or "end" (of a span)
    channels: tuple[str, ...]
    audience: str
    template: str
    title: str | None = None
    link: str | None = None
    image: str | None = None
    alt: str | None = None
    line: int | None = None  # the line of the step's `[[steps]]` header
    event: str | None = None  # `event = "event:SLUG"`: placed from that campaign's dates instead
    align: Align | None = None  # snap the step's day to a weekday (after the offset)
    # `link_from = "STEP.CHANNEL"`: the link is the page that earlier step published there
    link_from: LinkFrom | None = None


@dataclass(frozen=True)
class CampaignSpec:
    """One campaign file, checked. `variables` go to every template of the campaign."""

    slug: str
    title: str
    focus_area: str
    description: str
    path: Path
    variables: dict[str, Any]
    event: EventSpec
    steps: tuple[StepSpec, ...]

    def image_path(self, step: StepSpec) -> Path | None:
        """The step's image, relative to the folder of the campaign file."""
        return self.path.parent / step.image if step.image else None


class CampaignErrors(CampaignError):
    """Several problems at once (all files of a folder); str() gives one line per problem."""

    def __init__(self, errors: Iterable[CampaignError]) -> None:
        self.errors: list[CampaignError] = []
        for error in errors:
            self.errors.extend(error.errors if isinstance(error, CampaignErrors) else [error])
        super().__init__(f"{len(self.errors)} problems in campaign files")

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


def _located(exc: CampaignError, path: Path, line: int | None) -> CampaignError:
    """The same error with the file, and `line` where the error did not know its own."""
    if exc.path is not None:
        return exc
    return type(exc)(exc.message, path=path, line=exc.line or line, hint=exc.hint)


def _text(value: object, key: str, line: Line, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise CampaignError(
            f"{key} must be a non-empty text in quotes",
            line=line_of(line),
            hint=f'e.g. {key} = "…"',
        )
    if has_controls(value):  # "\u0000" or "\u001b" written in the TOML string
        problem = NUL_PROBLEM if has_nul(value) else "contains a control character"
        raise CampaignError(f"{key} {problem}", line=line_of(line), hint=NUL_HINT)
    return value


class _FileLoader:
    """Checks one parsed file section by section, keeping every problem it finds."""

    def __init__(self, path: Path, source: TomlSource) -> None:
        self.path = path
        self.src = source
        self.errors: list[CampaignError] = []

    def add(self, exc: CampaignError, line: int | None = None) -> None:
        for error in exc.errors if isinstance(exc, CampaignErrors) else [exc]:
            self.errors.append(_located(error, self.path, line))

    def campaign(self, data: dict[str, Any]) -> CampaignSpec:
        top = self.src.key_line
        where = "the campaign file"
        for problem in key_problems(
            data, allowed=TOP_KEYS, required=TOP_REQUIRED, where=where, locate=top, hints=TOP_HINTS
        ):
            self.add(problem)
        values: dict[str, Any] = {}
        for key, required in (("title", True), ("focus_area", True), ("description", False)):
            if key in data:
                try:
                    values[key] = _text(data[key], key, partial(top, key), required=required)
                except CampaignError as exc:
                    self.add(exc)
        slug = self._slug(data)
        variables = data.get("variables", {})
        if not isinstance(variables, dict):
            hint = "write a [variables] table of name = value"
            self.add(CampaignError("variables must be a table", line=top("variables"), hint=hint))
        elif isinstance(link := variables.get("link"), str) and (why := link_problem(link)):
            at = self.src.key_line("link", "variables") or top("variables")
            hint = 'write the full address, e.g. link = "https://www.aalborg.dk/karneval"'
            self.add(CampaignError(f"link = {link!r} cannot be a link: {why}", line=at, hint=hint))
        event = self._event(data["event"]) if "event" in data else None
        steps = self._steps(data["steps"], event) if "steps" in data else ()
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else CampaignErrors(self.errors)
        assert event is not None
        description = values.get("description", "")
        title, focus_area = values["title"], values["focus_area"]
        return CampaignSpec(
            slug, title, focus_area, description, self.path, variables, event, steps
        )

    def _slug(self, data: dict[str, Any]) -> str:
        slug = data.get("slug", self.path.stem)
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            where = "slug" if "slug" in data else "the file name (the default slug)"
            hint = "use lower-case letters, digits, - and _, starting with a letter or digit" + (
                "" if "slug" in data else ', or set slug = "…"'
            )
            line = self.src.key_line("slug")
            self.add(CampaignError(f"{where} {slug!r} is not a valid slug", line=line, hint=hint))
        return str(slug)

    def _event(self, table: object) -> EventSpec | None:
        header = self.src.header_line("event") or self.src.key_line("event")
        try:
            return parse_event(table, locate=self.src.locator("event"), line=header)
        except CampaignError as exc:
            self.add(exc, header)
            return None

    def _steps(self, raw: object, event: EventSpec | None) -> tuple[StepSpec, ...]:
        if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) for s in raw):
            hint = "add at least one [[steps]] table; see docs/campaigns.md"
            self.add(
                CampaignError(
                    "steps must be one or more [[steps]] tables",
                    line=self.src.key_line("steps"),
                    hint=hint,
                )
            )
            return ()
        steps: list[StepSpec] = []
        seen: dict[str, int] = {}
        for index, table in enumerate(raw):
            line = self.src.header_line("steps", index) or self.src.key_line("steps")
            try:
                step = self._step(table, index, line, event)
            except CampaignError as exc:
                self.add(exc, line)
                continue
            if step.name in seen:
                at = self.src.key_line("name", "steps", index) or line
                hint = f"step {seen[step.name] + 1} has that name: give each step its own name"
                self.add(CampaignError(f"duplicate step name {step.name!r}", line=at, hint=hint))
            seen.setdefault(step.name, index)
            steps.append(step)
        for step in steps:
            if step.link_from is not None:
                problem = _link_from_problem(step, step.link_from, steps)
                if problem is not None:
                    self.add(problem)
        return tuple(steps)

    def _step(
        self, t: dict[str, Any], index: int, line: int | None, event: EventSpec | None
    ) -> StepSpec:
        def at(key: str) -> int | None:
            return self.src.key_line(key, "steps", index) or line

        def lazy(key: str) -> Line:  # looked up only if the value is wrong
            return partial(at, key)

        name = t.get("name", f"step-{index + 1}")
        where = f"step {name!r}" if "name" in t else f"step {index + 1}"
        problems = key_problems(
            t, allowed=STEP_KEYS, required=STEP_REQUIRED, where=where, locate=at, line=line
        )
        if problems:
            raise problems[0] if len(problems) == 1 else CampaignErrors(problems)
        name = _text(name, "name", lazy("name"))
        offset = t["offset_days"]
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise CampaignError(
                "offset_days must be a whole number of days",
                line=at("offset_days"),
                hint="e.g. offset_days = -7",
            )
        own_event = _step_event(t["event"], at("event")) if "event" in t else None
        if own_event is not None and "anchor" in t:
            raise CampaignError(
                "anchor does not apply to a step with its own event",
                line=at("anchor"),
                hint=f"the step is placed from event:{own_event}'s date: remove anchor",
            )
        align = parse_align(t["align"], locate=at) if "align" in t else None
        anchor = t.get("anchor", "start")
        if anchor not in ("start", "end"):
            raise CampaignError(f'anchor = {anchor!r} must be "start" or "end"', line=at("anchor"))
        if anchor == "end" and event is not None and event.kind != "span":
            raise CampaignError(
                'anchor = "end" needs a span event',
                line=at("anchor"),
                hint=f"this event is a {event.kind}: remove anchor",
            )
        template = _text(t["template"], "template", lazy("template"))
        if template.endswith(".j2"):
            raise CampaignError(
                "template is written without .j2",
                line=at("template"),
                hint=f'template = "{template.removesuffix(".j2")}"',
            )
        optional = {
            k: _text(t[k], k, lazy(k)) if k in t else None
            for k in ("title", "link", "image", "alt")
        }
        link_from = _link_from(t["link_from"], at("link_from")) if "link_from" in t else None
        if link_from is not None and optional["link"]:
            raise CampaignError(
                "a step takes its link from link_from or from link, not both",
                line=at("link"),
                hint="remove link: the link is the page link_from names",
            )
        if link_from is not None and own_event is not None:
            raise CampaignError(
                "link_from does not apply to a step with its own event",
                line=at("link_from"),
                hint="it is planned on other dates than the step it would link to",
            )
        if optional["link"] is not None and (why := link_problem(optional["link"])):
            raise CampaignError(
                f"link = {optional['link']!r} cannot be a link: {why}",
                line=at("link"),
                hint='write the full address, e.g. link = "https://www.aalborg.dk/karneval"',
            )
        if optional["image"] is not None and (why := image_name_problem(optional["image"])):
            raise CampaignError(
                f"image = {optional['image']!r}: {why}",
                line=at("image"),
                hint='name a file beside the campaign file or below it, e.g. "billeder/optakt.jpg"',
            )
        if optional["image"] and not optional["alt"]:
            raise CampaignError(
                "image without alt text",
                line=at("image"),
                hint='add alt = "…" describing the image for screen readers',
            )
        return StepSpec(
            name,
            offset,
            _parse_time(t["time"], lazy("time")),
            anchor,
            _channels(t["channels"], lazy("channels")),
            _text(t["audience"], "audience", lazy("audience")),
            template,
            line=line,
            event=own_event,
            align=align,
            link_from=link_from,
            **optional,
        )


def _link_from(value: object, line: int | None) -> LinkFrom:
    """`link_from = "STEP.CHANNEL"`, split at its last dot (a step name may have dots)."""
    step, dot, channel = value.rpartition(".") if isinstance(value, str) else ("", "", "")
    if not dot or not step.strip() or not channel.strip():
        raise CampaignError(
            f"link_from = {value!r} does not name a step and a channel",
            line=line,
            hint='write link_from = "STEP.CHANNEL", e.g. link_from = "nyhed.hjemmeside"',
        )
    return LinkFrom(step, channel, line)


def _link_from_problem(
    step: StepSpec, source: LinkFrom, steps: list[StepSpec]
) -> CampaignError | None:
    """Why `source` cannot be the page `step` links to: it must be a channel of an earlier step.

    Earlier in the file, not merely earlier in time: the order of the steps is the order the
    story is told in, and a reader of the file sees at once what a step depends on.
    """
    names = [s.name for s in steps]
    if source.step == step.name:
        return CampaignError(
            f"step {step.name!r} cannot link to its own page (link_from = {str(source)!r})",
            line=source.line,
            hint="name an earlier step's channel",
        )
    if source.step not in names:
        earlier = names[: names.index(step.name)]
        hint = did_you_mean(source.step, names) or "earlier steps: " + (
            ", ".join(earlier) or "none"
        )
        return CampaignError(
            f"link_from names step {source.step!r}, which the campaign does not have",
            line=source.line,
            hint=hint,
        )
    found = next(s for s in steps if s.name == source.step)
    if names.index(source.step) > names.index(step.name):
        return CampaignError(
            f"link_from names step {source.step!r}, which comes after step {step.name!r}",
            line=source.line,
            hint="a step can link only to the page of a step written before it: move it up",
        )
    if found.event is not None:
        return CampaignError(
            f"link_from names step {source.step!r}, which has its own event",
            line=source.line,
            hint="it is planned on other dates, so it is not part of the same occurrence",
        )
    if source.channel not in found.channels:
        hint = did_you_mean(source.channel, found.channels) or (
            f"step {found.name!r} posts on " + ", ".join(found.channels)
        )
        return CampaignError(
            f"link_from names channel {source.channel!r}, which is not a channel of step "
            f"{found.name!r}",
            line=source.line,
            hint=hint,
        )
    return None


def _step_event(value: object, line: int | None) -> str:
    """The slug of a step's `event = "event:SLUG"`."""
    slug = value.removeprefix(EVENT_PREFIX) if isinstance(value, str) else ""
    if not isinstance(value, str) or not value.startswith(EVENT_PREFIX) or not SLUG_RE.match(slug):
        raise CampaignError(
            f"event = {value!r} does not name a campaign",
            line=line,
            hint='write event = "event:SLUG" with the other campaign\'s slug, e.g. "event:jul"',
        )
    return slug


def _parse_time(value: object, line: Line) -> time:
    match = _TIME.match(value) if isinstance(value, str) else None
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise CampaignError(
            f"time = {value!r} is not a time of day",
            line=line_of(line),
            hint='write 24-hour "HH:MM" in quotes, e.g. time = "08:00"',
        )
    return time(int(match.group(1)), int(match.group(2)))


def _channels(value: object, line: Line) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(c, str) and c.strip() for c in value)
    ):
        raise CampaignError(
            "channels must be a non-empty list of channel names",
            line=line_of(line),
            hint='e.g. channels = ["hjemmeside", "facebook"]',
        )
    if len(set(value)) != len(value):
        raise CampaignError(
            "a channel is listed twice in channels",
            line=line_of(line),
            hint="list each channel once",
        )
    return tuple(value)


def load_campaign(path: Path) -> CampaignSpec:
    """One campaign file, checked; raises CampaignError (CampaignErrors for several problems)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CampaignError(
            "the file is not UTF-8 text", path=path, hint="save it as UTF-8"
        ) from None
    except OSError as exc:
        raise CampaignError(f"cannot read the file: {exc.strerror}", path=path) from None
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        message, line = syntax_error(exc, text)
        raise CampaignError(
            f"TOML syntax error: {message}",
            path=path,
            line=line,
            hint="check quotes, brackets and commas on this line or the one before",
        ) from None
    return _FileLoader(path, TomlSource(text)).campaign(data)


class CampaignSet:
    """Every campaign of a folder, with `event:SLUG` references checked and resolvable."""

    def __init__(self, campaigns: Iterable[CampaignSpec], *, skip: Iterable[str] = ()) -> None:
        """Raises CampaignErrors for duplicate slugs, unknown references and cycles.

        `skip` names slugs whose files failed to load, so their absence is not reported twice.
        """
        self._by_slug: dict[str, CampaignSpec] = {}
        errors: list[CampaignError] = []
        for spec in campaigns:
            other = self._by_slug.get(spec.slug)
            if other is not None:
                hint = f"{other.path} has it too: give each campaign its own slug"
                errors.append(
                    CampaignError(
                        f"duplicate slug {spec.slug!r}",
                        path=spec.path,
                        line=_source(spec).key_line("slug"),
                        hint=hint,
                    )
                )
                continue
            self._by_slug[spec.slug] = spec
        errors += self._reference_problems(set(skip))
        if errors:
            raise CampaignErrors(errors)

    @classmethod
    def load(cls, directory: Path) -> CampaignSet:
        """Every `*.toml` in `directory` (sorted); all problems of all files in one error."""
        directory = Path(directory)
        if not directory.is_dir():
            raise CampaignError(
                "campaign folder not found",
                path=directory,
                hint="create it, or point the config at the right folder",
            )
        specs: list[CampaignSpec] = []
        errors: list[CampaignError] = []
        for path in sorted(directory.glob("*.toml")):
            try:
                specs.append(load_campaign(path))
            except CampaignError as exc:
                errors.append(exc)
        failed = {Path(str(e.path)).stem for e in CampaignErrors(errors).errors}
        try:
            found = cls(specs, skip=failed)
        except CampaignErrors as exc:
            errors.append(exc)
        if errors:
            raise CampaignErrors(errors)
        return found

    def _reference_problems(self, skip: set[str]) -> list[CampaignError]:
        errors: list[CampaignError] = []
        for spec in self:
            named = spec.event.references() | {step.event for step in spec.steps if step.event}
            for slug in sorted(named - self._by_slug.keys() - skip):
                hint = did_you_mean(slug, self._by_slug) or "known: " + ", ".join(self._by_slug)
                errors.append(
                    CampaignError(
                        f"event:{slug} names no campaign",
                        path=spec.path,
                        line=_reference_line(spec, slug),
                        hint=hint,
                    )
                )
        for cycle in _cycles({s.slug: s.event.references() for s in self}):
            spec = self._by_slug[cycle[0]]
            errors.append(
                CampaignError(
                    "event references go round in a circle: " + " → ".join([*cycle, cycle[0]]),
                    path=spec.path,
                    line=_reference_line(spec, cycle[1 % len(cycle)]),
                    hint="give one of these campaigns its own date rule instead of event:…",
                )
            )
        return errors

    def get(self, slug: str) -> CampaignSpec:
        """The campaign with this slug; the error lists the known ones."""
        if slug not in self._by_slug:
            hint = did_you_mean(slug, self._by_slug) or "known: " + (
                ", ".join(self._by_slug) or "none"
            )
            raise CampaignError(f"no campaign with slug {slug!r}", hint=hint)
        return self._by_slug[slug]

    def __iter__(self) -> Iterator[CampaignSpec]:
        return iter(self._by_slug.values())

    def __len__(self) -> int:
        return len(self._by_slug)

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def occurrences(self, slug: str, year: int) -> list[Occurrence]:
        """The campaign's occurrences in `year`; a rule's error names its file and line."""
        return self._by_rule(slug, lambda event: event.occurrences(year, self.event_dates))

    def event_dates(self, slug: str, year: int) -> list[date]:
        """What `event:SLUG` resolves to: every date, or a span's or series' first date."""
        return self._by_rule(slug, lambda event: event.reference_dates(year, self.event_dates))

    def _by_rule(self, slug: str, ask: Callable[[EventSpec], _T]) -> _T:
        """`ask` of the campaign's event; a date rule's error located in its file and line."""
        spec = self.get(slug)
        try:
            return ask(spec.event)
        except DateRuleError as exc:
            raise _located(exc, spec.path, spec.event.line) from exc


def _source(spec: CampaignSpec) -> TomlSource:
    """The file's text, re-read only to point at a line in a cross-file error."""
    try:
        return TomlSource(spec.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return TomlSource("")


def _reference_line(spec: CampaignSpec, slug: str) -> int | None:
    return _source(spec).string_line(f"event:{slug}") or spec.event.line


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle once, as a path starting at its smallest slug (so reports are stable)."""
    found: set[tuple[str, ...]] = set()

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycle = path[path.index(nxt) :]
                first = cycle.index(min(cycle))
                found.add(tuple(cycle[first:] + cycle[:first]))
            elif nxt in graph:
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return [list(c) for c in sorted(found)]
