"""Compiled templates kept between runs (comms.content.template_cache): loaded instead of
compiled, never for another environment or an edited source, never from a folder others can
write, and never the reason a run fails."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import jinja2
import pytest

from comms.content import template_cache
from comms.content.render import TemplateRenderer
from comms.content.sandbox import LimitedEnvironment
from comms.content.template_cache import ENV_VAR, TemplateCache, default_folder, fingerprint
from comms.errors import RenderError

WHO = {"channel_name": "facebook", "channel_type": "facebook", "audience": "alle"}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(templates, cache): a templates folder and a cache folder not yet made."""
    templates = tmp_path / "templates"
    templates.mkdir()
    return templates, tmp_path / "cache" / "comms" / "templates"


def write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def render(templates: Path, cache: Path | None, name: str = "opslag", **context: object) -> str:
    renderer = TemplateRenderer(templates, cache_folder=cache)
    return renderer.render(name, **WHO, context=context)


@pytest.fixture
def no_compiling(monkeypatch: pytest.MonkeyPatch):
    """Make compiling a template an error: what renders then came from the cache."""

    def refuse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("compiled instead of loaded from the cache")

    def start() -> None:
        monkeypatch.setattr(LimitedEnvironment, "compile", refuse)

    return start


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.code"))


def test_a_second_renderer_loads_the_compiled_template(folders, no_compiling):
    templates, cache = folders
    write(templates, "k/_base.j2", "{% block body %}{% endblock %} {{ 25056 | tal }}")
    child = "{% extends 'k/_base.j2' %}{% block body %}Hej {{ n }}{% endblock %}"
    write(templates, "opslag.j2", child)
    assert render(templates, cache, n=1) == "Hej 1 25.056"
    assert len(entries(cache)) == 2  # the post's file and its base
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries(cache))
    no_compiling()
    assert render(templates, cache, n=2) == "Hej 2 25.056"
    with pytest.raises(AssertionError, match="compiled instead"):  # the spy does bite
        render(templates, None, n=3)


def test_an_edited_template_is_compiled_again(folders, no_compiling):
    templates, cache = folders
    write(templates, "opslag.j2", "gammel {{ n }}")
    assert render(templates, cache, n=1) == "gammel 1"
    write(templates, "opslag.j2", "ny tekst {{ n }}")
    assert render(templates, cache, n=1) == "ny tekst 1"
    assert len(entries(cache)) == 1  # the entry was replaced, not added to
    # the same size and the same time stamp: jinja2's checksum is of the text itself
    path = templates / "opslag.j2"
    before = path.stat()
    path.write_text("ny tekxt {{ n }}", encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert render(templates, cache, n=2) == "ny tekxt 2"
    no_compiling()
    assert render(templates, cache, n=3) == "ny tekxt 3"


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "not allowed"),
        ("{{ cycler.__init__.__globals__.os.environ }}", "not allowed"),
        ("{% set x = [] %}{{ x.append(1) }}", "not allowed"),
        ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
        ("{{ 'x' * 10**9 }}", "grew"),
        ("{{ 9 ** 999999 }}", "too large"),
        ("{{ 'x' | center(10**9) }}", "too large"),
    ],
)
def test_the_sandbox_refuses_the_same_from_the_cache(folders, no_compiling, source, says):
    templates, cache = folders
    write(templates, "opslag.j2", "Hej\n" + source)
    for compiled in (True, False):
        if not compiled:
            assert len(entries(cache)) == 1
            no_compiling()
        with pytest.raises(RenderError) as caught:
            render(templates, cache, d=1)
        assert says in str(caught.value)
        assert "opslag.j2:2" in str(caught.value)


def test_code_compiled_for_another_environment_is_never_loaded(folders):
    """A plain environment folds `('x' * 200000) | length` into a number; the sandbox checks
    every `*` and refuses it."""
    templates, cache = folders
    write(templates, "opslag.j2", "{{ ('x' * 200000) | length }}")
    plain = jinja2.Environment(loader=jinja2.FileSystemLoader(templates))
    plain.bytecode_cache = TemplateCache.for_environment(plain, cache)
    assert plain.get_template("opslag.j2").render() == "200000"
    assert len(entries(cache)) == 1
    with pytest.raises(RenderError, match="grew past"):
        render(templates, cache)


class _OtherOperators(LimitedEnvironment):
    intercepted_binops = frozenset({"*"})


def _limited(**options: object) -> jinja2.Environment:
    env = TemplateRenderer(Path("."), cache_folder=None).env
    for key, value in options.items():
        setattr(env, key, value)
    return env


@pytest.mark.parametrize(
    "other",
    [
        lambda: jinja2.Environment(),
        lambda: jinja2.sandbox.ImmutableSandboxedEnvironment(),
        lambda: _OtherOperators(),
        lambda: _limited(autoescape=True),
        lambda: _limited(block_start_string="<%"),
        lambda: _limited(trim_blocks=True),
        lambda: _limited(keep_trailing_newline=True),
        lambda: _limited(finalize=str),
        lambda: _limited(filters={}),
        lambda: _limited(policies={**_limited().policies, "truncate.leeway": 0}),
    ],
)
def test_the_fingerprint_tells_environments_apart(other):
    ours = fingerprint(_limited())
    assert fingerprint(_limited()) == ours
    assert fingerprint(other()) != ours


def test_a_filter_that_needs_the_context_changes_the_fingerprint():
    env = _limited()
    before = fingerprint(env)
    env.filters["tal"] = jinja2.pass_context(lambda context, value: str(value))
    assert fingerprint(env) != before


def test_a_corrupt_or_foreign_entry_is_ignored_and_written_again(folders, no_compiling):
    templates, cache = folders
    write(templates, "opslag.j2", "Hej {{ n }}")
    assert render(templates, cache, n=1) == "Hej 1"
    (entry,) = entries(cache)
    whole = entry.read_bytes()
    form, print_, checksum, digest, payload = whole.split(b"\n", 4)
    spoiled = [
        b"",  # emptied
        whole[: len(whole) // 2],  # torn
        whole[:-3] + b"\xff\xfe\x00",  # its digest no longer matches
        b"\n".join((form, print_, checksum, b"0" * 64, payload)),  # a digest of other bytes
        b"\n".join((b"comms-template-cache 0", print_, checksum, digest, payload)),  # old format
        b"\n".join((form, b"f" * 64, checksum, digest, payload)),  # another environment's
        os.urandom(4000),
    ]
    for bad in spoiled:
        entry.write_bytes(bad)
        assert render(templates, cache, n=2) == "Hej 2"
        assert entry.read_bytes() == whole  # written again, whole
    no_compiling()
    assert render(templates, cache, n=3) == "Hej 3"


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o720])
def test_a_folder_others_can_write_is_not_used(folders, mode):
    templates, cache = folders
    cache.mkdir(parents=True)
    cache.chmod(mode)
    write(templates, "opslag.j2", "Hej {{ n }}")
    renderer = TemplateRenderer(templates, cache_folder=cache)
    assert renderer.env.bytecode_cache is None
    assert renderer.render("opslag", **WHO, context={"n": 1}) == "Hej 1"
    assert list(cache.iterdir()) == []
    assert stat.S_IMODE(cache.stat().st_mode) == mode  # left as the user made it


def test_a_folder_of_another_user_is_not_used(folders, monkeypatch):
    templates, cache = folders
    cache.mkdir(parents=True, mode=0o700)
    write(templates, "opslag.j2", "Hej {{ n }}")
    owner = cache.stat().st_uid
    if os.geteuid() == 0:  # root can give it away for real
        os.chown(cache, owner + 4242, -1)
    else:  # an ordinary user sees the folder as another's when it is not their uid
        monkeypatch.setattr(os, "getuid", lambda: owner + 4242)
    assert cache.stat().st_uid != os.getuid()
    renderer = TemplateRenderer(templates, cache_folder=cache)
    assert renderer.env.bytecode_cache is None
    assert renderer.render("opslag", **WHO, context={"n": 1}) == "Hej 1"
    assert list(cache.iterdir()) == []


def compiles_seen(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The names of the templates compiled from now on (not loaded from the cache)."""
    compiled: list[str] = []
    original = LimitedEnvironment.compile

    def counting(self, source, name=None, filename=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(name)
        return original(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(LimitedEnvironment, "compile", counting)
    return compiled


def test_an_entry_of_another_user_is_not_loaded(folders, monkeypatch):
    templates, cache = folders
    write(templates, "opslag.j2", "Hej {{ n }}")
    assert render(templates, cache, n=1) == "Hej 1"
    renderer = TemplateRenderer(templates, cache_folder=cache)
    assert renderer.env.bytecode_cache is not None
    mine = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: mine + 4242)  # the entries are now another's
    compiled = compiles_seen(monkeypatch)
    assert renderer.render("opslag", **WHO, context={"n": 2}) == "Hej 2"
    assert compiled == ["opslag.j2"]


def test_a_cache_path_that_is_a_file_or_unmakeable_means_no_cache(tmp_path):
    templates = tmp_path / "templates"
    write(templates, "opslag.j2", "Hej {{ n }}")
    (tmp_path / "fil").write_text("x")
    for cache in (tmp_path / "fil", tmp_path / "fil" / "under"):
        renderer = TemplateRenderer(templates, cache_folder=cache)
        assert renderer.env.bytecode_cache is None
        assert renderer.render("opslag", **WHO, context={"n": 1}) == "Hej 1"


@pytest.mark.parametrize("failing", ["open", "replace"])
def test_a_cache_that_cannot_be_written_never_fails_a_render(folders, monkeypatch, failing):
    templates, cache = folders
    write(templates, "opslag.j2", "Hej {{ n }}")
    write(templates, "andet.j2", "Andet {{ n }}")
    renderer = TemplateRenderer(templates, cache_folder=cache)
    assert renderer.env.bytecode_cache is not None
    calls: list[str] = []
    real = getattr(os, failing)

    def full_disk(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith(".tmp") and (failing == "replace" or args[0] & os.O_CREAT):
            calls.append(str(path))
            raise OSError(28, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(template_cache.os, failing, full_disk)
    assert renderer.render("opslag", **WHO, context={"n": 1}) == "Hej 1"
    assert renderer.render("andet", **WHO, context={"n": 2}) == "Andet 2"
    assert len(calls) == 1  # after the first failure the run stops trying
    assert list(cache.iterdir()) == []  # no entry, and no temporary file left behind


def test_renders_in_threads_share_the_cache(folders):
    """The workspace renders in threads: every render sees a whole entry or compiles."""
    templates, cache = folders
    for n in range(12):
        write(templates, f"t{n}.j2", f"skabelon {n}: {{{{ x }}}}" + " {{ x | tal }}" * n)
    failures: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for round_ in range(6):
                renderer = TemplateRenderer(templates, cache_folder=cache)
                for n in range(12):
                    m = (n + seed + round_) % 12
                    text = renderer.render(f"t{m}", **WHO, context={"x": seed})
                    assert text == f"skabelon {m}: {seed}" + f" {seed}" * m
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(entries(cache)) == 12
    assert not list(cache.glob(".*.tmp"))


def test_errors_from_cached_code_name_the_file_and_line(folders, no_compiling):
    templates, cache = folders
    write(templates, "opslag.j2", "Hej\n\n{{ ukendt }}")
    for compiled in (True, False):
        if not compiled:
            no_compiling()
        with pytest.raises(RenderError) as caught:
            render(templates, cache)
        assert caught.value.line == 3
        assert Path(str(caught.value.path)).name == "opslag.j2"


def test_check_syntax_uses_the_cache_and_reports_broken_files_each_time(folders, monkeypatch):
    templates, cache = folders
    write(templates, "ok.j2", "{{ x | dato }}")
    write(templates, "k/brudt.j2", "a\n{% if x %}")
    first = TemplateRenderer(templates, cache_folder=cache).check_syntax()
    assert [(p.path.name, p.line) for p in first] == [("brudt.j2", 2)]  # type: ignore[union-attr]
    assert len(entries(cache)) == 1  # the good one; a broken file has nothing to keep
    compiled = compiles_seen(monkeypatch)
    again = TemplateRenderer(templates, cache_folder=cache).check_syntax()
    assert [(p.path.name, p.line) for p in again] == [("brudt.j2", 2)]  # type: ignore[union-attr]
    assert compiled == ["k/brudt.j2"]


def test_the_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "min-cache"))
    assert default_folder() == tmp_path / "min-cache"
    write(tmp_path / "templates", "opslag.j2", "Hej")
    assert TemplateRenderer(tmp_path / "templates").render("opslag", **WHO, context={}) == "Hej"
    assert len(entries(tmp_path / "min-cache")) == 1
    for off in ("off", "", "0", "none"):
        monkeypatch.setenv(ENV_VAR, off)
        assert default_folder() is None
        assert TemplateRenderer(tmp_path / "templates").env.bytecode_cache is None
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_folder() == tmp_path / "xdg" / "comms" / "templates"
    monkeypatch.setenv("XDG_CACHE_HOME", "relativ/sti")  # the XDG spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "hjem"))
    assert default_folder() == tmp_path / "hjem" / ".cache" / "comms" / "templates"


def test_clear_empties_the_folder(folders):
    templates, cache = folders
    write(templates, "opslag.j2", "Hej")
    renderer = TemplateRenderer(templates, cache_folder=cache)
    renderer.render("opslag", **WHO, context={})
    assert len(entries(cache)) == 1
    assert renderer.env.bytecode_cache is not None
    renderer.env.bytecode_cache.clear()
    assert list(cache.iterdir()) == []
