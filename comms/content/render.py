"""Render one post from a jinja2 template: variant lookup, Danish filters, located errors.

The rules are those of docs/templates.md: an undefined variable is an error (never empty text),
a step's template is looked up per channel name, channel type, audience and then the base file,
and files starting with `_` are bases for `{% extends %}`, never variants. Templates run in the
sandbox of content/sandbox.py, within its budget of time and size.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SecurityError

from comms.content import danish, template_cache
from comms.content.clean import NUL_HINT, NUL_PROBLEM, has_nul, strip_controls
from comms.content.sandbox import MAX_CHARS, LimitedEnvironment, TemplateLimitError
from comms.errors import RenderError

SUFFIX = ".j2"
STRING_ORIGIN = "<template>"  # the filename jinja2 gives a template made from a string

# The filters templates.md promises, by the name templates use.
FILTERS: dict[str, Callable[..., str]] = {
    "dato": danish.format_date,
    "dato_lang": danish.format_date_full,
    "dato_kort": danish.format_date_short,
    "dag_maaned": danish.format_day_month,
    "ugedag": danish.format_weekday,
    "klokken": danish.format_time,
    "tal": danish.format_number,
    "uge": danish.format_week,
}

UNDEFINED_HINT = "define it in the campaign's [variables], or fix the spelling in the template"
SYNTAX_HINT = "check the {{ }} and {% %} tags on that line or just before it"
LIMIT_HINT = "check the loops and repetitions on that line: a post is short text"
SANDBOX_HINT = "templates use the campaign's values and the filters of docs/templates.md only"

# Errors a template (or a filter given the wrong kind of value) can raise while rendering.
_RENDER_FAILURES = (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError)


class TemplateRenderer:
    """The jinja2 environment of one templates folder, and the rendering of posts from it."""

    def __init__(
        self, templates_dir: Path | str, *, cache_folder: Path | str | bool | None = True
    ) -> None:
        """`cache_folder`: where compiled templates are kept between runs (content/
        template_cache.py): True for the user's cache folder, None or False for none."""
        self.templates_dir = Path(templates_dir)
        self.env = LimitedEnvironment(
            loader=jinja2.FileSystemLoader(self.templates_dir),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text posts, never HTML
            keep_trailing_newline=False,
            # one renderer serves one plan or check run: a base named by {% extends %} is read
            # once, not stat-ed again on every render (jinja2's auto_reload checks the file's
            # mtime each time a template is looked up)
            auto_reload=False,
            # and every template of the folder stays compiled for the run: jinja2's bounded
            # cache (400) would compile a big folder's again and again, and each hit in it
            # costs a search of its queue of names; unbounded, it is a plain dict
            cache_size=-1,
        )
        self.env.filters.update(FILTERS)
        # the fingerprint of the cache's entries is taken of the environment as it now is
        folder = template_cache.default_folder() if cache_folder is True else cache_folder
        self.env.bytecode_cache = template_cache.TemplateCache.for_environment(
            self.env, Path(folder) if folder else None
        )
        # a plan renders thousands of posts from a few templates and titles: compile each
        # title once and look each variant file up once
        self._strings: dict[str, jinja2.Template] = {}
        self._resolved: dict[tuple[str, str, str, str], str] = {}
        # and keep each file's compiled template, so a render does not ask the loader again
        # (jinja2's own cache stats the file on every get_template)
        self._files: dict[str, jinja2.Template] = {}

    def candidates(
        self, template: str, *, channel_name: str, channel_type: str, audience: str
    ) -> list[str]:
        """The variant file names to try for `template`, in the order of templates.md."""
        name = template.strip().replace("\\", "/").removesuffix(SUFFIX)
        parts = name.split("/")
        if not name or any(part in ("", ".", "..") for part in parts):
            raise RenderError(
                f"template name {template!r} is not a path inside the templates folder",
                path=self.templates_dir,
                hint='write it relative to the templates folder, e.g. "karneval/optakt"',
            )
        if parts[-1].startswith("_"):
            raise RenderError(
                f"template {template!r} is a base (its name starts with '_') and cannot be posted",
                path=self.templates_dir / f"{name}{SUFFIX}",
                hint="name a template that extends it, e.g. without the leading '_'",
            )
        result: list[str] = []
        for variant in (channel_name, channel_type, audience):
            variant = (variant or "").strip()
            if not variant or "/" in variant or "\\" in variant or variant in (".", ".."):
                continue
            candidate = f"{name}.{variant}{SUFFIX}"
            if candidate not in result:
                result.append(candidate)
        result.append(f"{name}{SUFFIX}")
        return result

    def resolve(self, template: str, *, channel_name: str, channel_type: str, audience: str) -> str:
        """The template file (relative to the folder, '/'-separated) to use for this post."""
        key = (template, channel_name, channel_type, audience)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self._resolve(
                template, channel_name=channel_name, channel_type=channel_type, audience=audience
            )
        return found

    def _resolve(
        self, template: str, *, channel_name: str, channel_type: str, audience: str
    ) -> str:
        tried = self.candidates(
            template, channel_name=channel_name, channel_type=channel_type, audience=audience
        )
        for candidate in tried:
            if (self.templates_dir / candidate).is_file():
                return candidate
        raise RenderError(
            f"no template file for {template!r}; tried {', '.join(tried)}",
            path=self.templates_dir,
            hint=f"create {tried[-1]} (used by every channel) or one of the variants",
        )

    def render(
        self,
        template: str,
        *,
        channel_name: str,
        channel_type: str,
        audience: str,
        context: dict[str, Any],
    ) -> str:
        """The post text for one channel and audience, with surrounding whitespace stripped."""
        name = self.resolve(
            template, channel_name=channel_name, channel_type=channel_type, audience=audience
        )
        try:
            compiled = _compiled(self._files, name, self.env.get_template)
            text = self.env.render(compiled, context).strip()
        except _RENDER_FAILURES as exc:
            raise self._located(exc, default_path=self.templates_dir / name) from exc
        if has_nul(text):  # the file's path is made for the error only
            return _cleaned(text, self.templates_dir / name)
        return strip_controls(text)

    def render_string(self, source: str, context: dict[str, Any], *, origin: str) -> str:
        """Render a short template written elsewhere (e.g. a title); errors name `origin`."""
        if _is_plain(source):  # most titles: jinja2 would give the text back as it is
            return _cleaned(source.strip(), origin)
        try:
            compiled = _compiled(self._strings, source, self.env.from_string)
            return _cleaned(self.env.render(compiled, context).strip(), origin)
        except _RENDER_FAILURES as exc:
            raise self._located(exc, default_path=origin, string_origin=origin) from exc

    def check_syntax(self) -> list[RenderError]:
        """Compile every .j2 file under the folder; one RenderError per broken file.

        Through the loader, as a render does: a file compiled before comes from the cache, and
        one compiled now is there for the renders that follow."""
        problems: list[RenderError] = []
        for path in sorted(self.templates_dir.rglob(f"*{SUFFIX}")):
            if not path.is_file():
                continue
            name = path.relative_to(self.templates_dir).as_posix()
            try:
                self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(self._located(exc, default_path=path))
            except (OSError, UnicodeDecodeError, jinja2.TemplateNotFound) as exc:
                problems.append(
                    RenderError(
                        f"cannot read template: {exc}",
                        path=path,
                        hint="save it as UTF-8 text",
                    )
                )
        return problems

    def _located(
        self,
        exc: Exception,
        *,
        default_path: Path | str,
        string_origin: str | None = None,
    ) -> RenderError:
        """Turn a jinja2 or filter error into a RenderError naming the template file and line."""
        path: Path | str = default_path
        line: int | None = None
        if isinstance(exc, jinja2.TemplateSyntaxError):
            line = exc.lineno
            if exc.filename and exc.filename != STRING_ORIGIN:
                path = Path(exc.filename)
            return RenderError(
                f"template syntax error: {exc.message}", path=path, line=line, hint=SYNTAX_HINT
            )
        frame = self._template_frame(exc)
        if frame is not None:
            filename, line = frame
            if filename != STRING_ORIGIN:
                path = Path(filename)
            elif string_origin is not None:
                path = string_origin
        if isinstance(exc, jinja2.UndefinedError):
            return RenderError(
                f"undefined variable: {exc.message}", path=path, line=line, hint=UNDEFINED_HINT
            )
        if isinstance(exc, TemplateLimitError):
            return RenderError(f"template stopped: {exc}", path=path, line=line, hint=LIMIT_HINT)
        if isinstance(exc, SecurityError):
            return RenderError(
                f"template not allowed: {exc}", path=path, line=line, hint=SANDBOX_HINT
            )
        if isinstance(exc, jinja2.TemplateNotFound):
            return RenderError(
                f"template {exc.name!r} not found in {self.templates_dir}",
                path=path,
                line=line,
                hint="check the name in {% extends %} or {% include %}",
            )
        return RenderError(
            f"cannot render: {type(exc).__name__}: {exc}",
            path=path,
            line=line,
            hint="check the value given to the filter or expression on that line",
        )

    def _template_frame(self, exc: BaseException) -> tuple[str, int] | None:
        """The innermost traceback frame that is a template line (jinja2 rewrites them so)."""
        root = self.templates_dir.resolve()
        found: tuple[str, int] | None = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.lineno is None:
                continue
            if frame.filename == STRING_ORIGIN:
                found = (frame.filename, frame.lineno)
                continue
            if not frame.filename.endswith(SUFFIX):
                continue
            try:
                Path(frame.filename).resolve().relative_to(root)
            except (OSError, ValueError):
                continue
            found = (frame.filename, frame.lineno)
        return found


def _is_plain(source: str) -> bool:
    """True when `source` has no tag, variable or comment (each starts with `{`; the
    environment has no line statements) and no line break jinja2 would rewrite (`\r`), so
    that rendering it gives back the text itself, within the budget's size."""
    return "{" not in source and "\r" not in source and len(source) <= MAX_CHARS


def _cleaned(text: str, origin: Path | str) -> str:
    """The rendered text without control characters; a NUL (from a value or the template
    itself) is an error naming where the text came from (content.clean)."""
    if has_nul(text):
        raise RenderError(f"the rendered text {NUL_PROBLEM}", path=origin, hint=NUL_HINT)
    return strip_controls(text)


def _compiled(
    cache: dict[str, jinja2.Template], key: str, compile: Callable[[str], jinja2.Template]
) -> jinja2.Template:
    """The template for `key`, compiled on first use and then kept in `cache`."""
    compiled = cache.get(key)
    if compiled is None:
        compiled = cache[key] = compile(key)
    return compiled
