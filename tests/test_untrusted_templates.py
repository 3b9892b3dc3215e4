"""Templates and campaign files written by people: a sandbox with a budget, and images that are
pictures of the campaigns folder.

A template reaches no Python internals and no environment, and a typo'd loop ends within the
render budget with an error naming the file; a step's image is refused when it lies outside the
campaigns folder, is no picture, or is too large.
"""

from __future__ import annotations

import io
import time
from datetime import date
from pathlib import Path

import jinja2
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from comms.content.render import TemplateRenderer
from comms.content.sandbox import MAX_CHARS, MAX_SECONDS
from comms.errors import RenderError
from tests.cli import comms_cli, run_comms


def render(tmp_path: Path, source: str, **context: object) -> str:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "opslag.j2").write_text(source, encoding="utf-8")
    renderer = TemplateRenderer(folder)
    return renderer.render(
        "opslag", channel_name="facebook", channel_type="facebook", audience="alle", context=context
    )


def test_the_danish_filters_still_work_in_the_sandbox(tmp_path: Path):
    text = render(
        tmp_path,
        "{{ d | dato_lang }}, {{ n | tal }}, {% for i in range(3) %}{{ i }}{% endfor %}",
        d=date(2027, 5, 29),
        n=25056,
    )
    assert text == "lørdag den 29. maj 2027, 25.056, 012"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ d.__class__ }}",
        "{% set x = [] %}{{ x.append(1) }}",
    ],
)
def test_python_internals_and_the_environment_are_out_of_reach(tmp_path: Path, source: str):
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "Hej\n" + source, d=date(2027, 1, 1))
    message = str(caught.value)
    assert "opslag.j2:2" in message
    assert "PATH" not in message


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "took"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}", "grew"),
        (
            "{% set ns = namespace(s='x') %}"
            "{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "grew",
        ),
        ("{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('x') }}", "grew"),
        ("{{ 'x' * 10**9 }}", "grew"),
        ("{{ 'x' | center(10**9) }}", "too large"),
        ("{{ '%*s' % (10**9, 'x') }}", "too large"),
        ("{{ 9 ** 999999 }}", "too large"),
    ],
)
def test_a_runaway_template_stops_soon_with_its_file_named(tmp_path: Path, source: str, says: str):
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render(tmp_path, "Hej\n" + source)
    assert time.monotonic() - started < MAX_SECONDS + 1.5
    message = str(caught.value)
    assert "opslag.j2" in message
    assert says in message


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=3000))
def test_output_is_capped_but_ordinary_posts_are_not(tmp_path_factory, lines: int, width: int):
    folder = tmp_path_factory.mktemp("t")
    size = lines * (width + 1)
    source = "{% for i in range(n) %}{{ 'x' * w }}.{% endfor %}"
    if size > MAX_CHARS:
        with pytest.raises(RenderError, match="grew past"):
            render(folder, source, n=lines, w=width)
    else:
        assert render(folder, source, n=lines, w=width) == ("x" * width + ".") * lines


@pytest.mark.slow
def test_validate_ends_promptly_on_a_typo_d_loop(project: Path):
    """In its own process, as an officer runs it: an error naming the file, not a hung machine."""
    path = project / "templates" / "karneval" / "dagen.j2"
    path.write_text(
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    result = run_comms("campaigns", "validate", "--year", "2027", cwd=project, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode != 0
    assert "dagen.j2" in result.stdout + result.stderr
    assert "took longer than" in result.stdout + result.stderr


# --- images ---------------------------------------------------------------------------------


def png_bytes(size: tuple[int, int] = (4, 4)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 20)).save(out, "PNG")
    return out.getvalue()


def use_image(project: Path, image: str) -> int:
    """Point the karneval campaign's first image at `image`; returns that line's number."""
    path = project / "campaigns" / "karneval.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('image = "images/karneval.png"', f"image = {image!r}", 1)
    path.write_text(text, encoding="utf-8")
    return next(i for i, t in enumerate(text.splitlines(), 1) if t == f"image = {image!r}")


def validate(code: int | None = None) -> str:
    result = CliRunner().invoke(comms_cli(), ["campaigns", "validate", "--year", "2027"])
    if code is not None:
        assert result.exit_code == code, result.output
    return result.output


def test_the_shipped_images_pass(project: Path):
    validate(0)


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("../comms.toml", "no .."),
        ("images/../../comms.toml", "no .."),
        ("/etc/passwd", "not from the disk's root"),
        ("C:/Windows/win.ini", "not from the disk's root"),
        ("images\\karneval.png", "with /"),
    ],
)
def test_an_image_path_out_of_the_folder_is_an_error_at_its_line(
    project: Path, image: str, says: str
):
    line = use_image(project, image)
    output = validate(1)
    assert f"karneval.toml:{line}: image = " in output
    assert says in output


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("billede.png", b"<script>alert(1)</script>", "is not a PNG, JPEG, GIF or WebP"),
        ("side.html", png_bytes(), "must be .png, .jpg, .gif or .webp"),
        ("billede.jpg", png_bytes(), "is a PNG file but is named .jpg"),
        ("stort.png", png_bytes() + b"\0" * (8 * 1024 * 1024), "at most 8 MB"),
        ("mangler.png", None, "does not exist"),
    ],
)
def test_an_image_must_be_a_picture_of_an_allowed_type_and_size(
    project: Path, name: str, content: bytes | None, says: str
):
    if content is not None:
        (project / "campaigns" / "images" / name).write_bytes(content)
    use_image(project, f"images/{name}")
    output = validate(1)
    assert says in output
    assert "karneval.toml:" in output


def test_a_symlink_out_of_the_campaigns_folder_is_refused_by_validate_and_plan(project: Path):
    secret = project / "comms.toml"
    (project / "campaigns" / "images" / "hemmelig.png").symlink_to(secret)
    use_image(project, "images/hemmelig.png")
    assert "lies outside the campaigns folder" in validate(1)
    result = CliRunner().invoke(comms_cli(), ["plan", "--year", "2027", "--campaign", "karneval"])
    assert result.exit_code != 0
    assert "lies outside the campaigns folder" in str(result.exception)
    assert not (project / "site").exists()


def test_a_symlink_to_a_picture_inside_the_folder_is_fine(project: Path):
    (project / "campaigns" / "images" / "igen.png").symlink_to("karneval.png")
    use_image(project, "images/igen.png")
    validate(0)


@pytest.mark.parametrize(
    "attribute",
    ["date", "mangler", "items", "keys", "get", "__class__", "__init__", "mro", "copy", "pop"],
)
def test_an_attribute_of_a_dict_is_what_the_sandbox_says_it_is(attribute: str):
    """The shortcut for plain dicts gives what jinja2's sandbox gives: the item, a safe method
    of the dict (even when a key has its name), or an undefined that refuses to be used."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = TemplateRenderer(Path("."), cache_folder=None).env
    for value in ({"date": 1, "items": 2}, {}, {"__class__": 3}, {"pop": [1]}):
        ours = env.getattr(value, attribute)
        theirs = ImmutableSandboxedEnvironment.getattr(env, value, attribute)
        assert type(ours) is type(theirs)
        if isinstance(ours, jinja2.Undefined):
            assert ours._undefined_hint == theirs._undefined_hint  # type: ignore[attr-defined]
            assert ours._undefined_name == theirs._undefined_name  # type: ignore[attr-defined]
        else:
            assert ours == theirs
