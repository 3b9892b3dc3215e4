"""Rendering posts from templates (comms.content.render): variants, filters, located errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comms.content.render import TemplateRenderer, _cleaned
from comms.errors import RenderError

WHO = {"channel_name": "hjemmeside", "channel_type": "x", "audience": "unge"}


def write(root: Path, files: dict[str, str]) -> TemplateRenderer:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return TemplateRenderer(root)


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        (
            ["optakt.hjemmeside.j2", "optakt.x.j2", "optakt.unge.j2", "optakt.j2"],
            "optakt.hjemmeside.j2",
        ),
        (["optakt.x.j2", "optakt.unge.j2", "optakt.j2"], "optakt.x.j2"),
        (["optakt.unge.j2", "optakt.j2"], "optakt.unge.j2"),
        (["optakt.j2"], "optakt.j2"),
        (["optakt.hjemmeside.j2"], "optakt.hjemmeside.j2"),
    ],
)
def test_variant_lookup_order(tmp_path, present, expected):
    renderer = write(tmp_path, {f"karneval/{name}": name for name in present})
    assert renderer.resolve("karneval/optakt", **WHO) == f"karneval/{expected}"
    text = renderer.render("karneval/optakt", **WHO, context={})
    assert text == expected


def test_audience_with_danish_letters_and_spaces(tmp_path):
    renderer = write(
        tmp_path,
        {"refleks/start.j2": "alle", "refleks/start.ældre borgere.j2": "ældre"},
    )
    who = {"channel_name": "fb", "channel_type": "facebook", "audience": "ældre borgere"}
    assert renderer.resolve("refleks/start", **who) == "refleks/start.ældre borgere.j2"
    assert renderer.render("refleks/start", **who, context={}) == "ældre"


def test_missing_template_names_candidates(tmp_path):
    renderer = write(tmp_path, {"karneval/andet.j2": "x"})
    with pytest.raises(RenderError) as info:
        renderer.resolve("karneval/optakt", **WHO)
    message = str(info.value)
    for candidate in ("optakt.hjemmeside.j2", "optakt.x.j2", "optakt.unge.j2", "optakt.j2"):
        assert candidate in message
    assert "karneval/optakt" in message
    assert info.value.hint


def test_base_files_are_never_variants(tmp_path):
    renderer = write(tmp_path, {"karneval/_base.j2": "base", "karneval/_base.x.j2": "base x"})
    with pytest.raises(RenderError, match="base"):
        renderer.resolve("karneval/_base", **WHO)


def test_template_name_may_not_leave_folder(tmp_path):
    renderer = write(tmp_path, {"a.j2": "a"})
    with pytest.raises(RenderError):
        renderer.resolve("../a", **WHO)


def test_extends_shared_base(tmp_path):
    renderer = write(
        tmp_path,
        {
            "karneval/_base.j2": (
                "{% block intro %}Karneval {{ event.year }}!{% endblock %}\n"
                "{% block body %}{% endblock %}\n"
                "{% block link %}Læs mere: {{ link }}{% endblock %}\n"
            ),
            "karneval/optakt.j2": (
                '{% extends "karneval/_base.j2" %}'
                "{% block body %}Vi ses {{ event.date | dato_lang }}.{% endblock %}"
            ),
            "karneval/optakt.x.j2": (
                '{% extends "karneval/_base.j2" %}{% block intro %}Kort: {% endblock %}'
            ),
        },
    )
    context = {"event": {"year": 2024, "date": date(2024, 5, 25)}, "link": "https://aalborg.dk"}
    long = renderer.render(
        "karneval/optakt",
        channel_name="fb",
        channel_type="facebook",
        audience="alle",
        context=context,
    )
    assert long == ("Karneval 2024!\nVi ses lørdag den 25. maj 2024.\nLæs mere: https://aalborg.dk")
    short = renderer.render("karneval/optakt", **WHO, context=context)
    assert short == "Kort: \n\nLæs mere: https://aalborg.dk"


def test_filters(tmp_path):
    source = (
        "{{ d | dato }}|{{ d | dato_lang }}|{{ d | dato_kort }}|{{ d | dag_maaned }}|"
        "{{ d | ugedag }}|{{ t | klokken }}|{{ n | tal }}|{{ f | tal }}|{{ d | uge }}|"
        "{{ at | klokken }}"
    )
    renderer = write(tmp_path, {"f.j2": source})
    context = {
        "d": date(2019, 1, 14),
        "t": time(17, 30),
        "n": 25056,
        "f": 3.5,
        "at": datetime(2019, 1, 14, 8, 0, tzinfo=UTC),
    }
    out = renderer.render("f", **WHO, context=context)
    assert out == (
        "14. januar 2019|mandag den 14. januar 2019|14.1.2019|14. januar|mandag|17.30|"
        "25.056|3,5|uge 3|8.00"
    )


def test_output_is_stripped_and_not_escaped(tmp_path):
    renderer = write(tmp_path, {"p.j2": "\n\n  {{ text }} & <b>  \n\n"})
    assert renderer.render("p", **WHO, context={"text": "Tryg & glad <3"}) == (
        "Tryg & glad <3 & <b>"
    )


def test_undefined_variable_names_file_and_line(tmp_path):
    renderer = write(tmp_path, {"karneval/optakt.j2": "Hej\n\nVi ses {{ stedd }}!\n"})
    with pytest.raises(RenderError) as info:
        renderer.render("karneval/optakt", **WHO, context={"sted": "Kildeparken"})
    error = info.value
    assert error.path is not None
    assert error.path.name == "optakt.j2"
    assert error.line == 3
    assert "stedd" in error.message
    assert "[variables]" in (error.hint or "")
    assert "optakt.j2:3:" in str(error)


@pytest.mark.parametrize(
    ("base", "child", "context", "named"),
    [
        pytest.param(
            "Start\n{% block b %}{% endblock %}\nSlut {{ campaign.titel }}\n",
            '{% extends "k/_base.j2" %}{% block b %}ok{% endblock %}',
            {"campaign": {"title": "Karneval"}},
            ("_base.j2", "titel"),
            id="attribute-in-base",
        ),
        pytest.param(
            "Start\n{% block b %}{% endblock %}\n",
            '{% extends "k/_base.j2" %}\n{% block b %}\n{{ mangler }}\n{% endblock %}',
            {},
            ("p.j2", "mangler"),
            id="name-in-child-block",
        ),
    ],
)
def test_an_undefined_name_names_the_file_and_line_it_stands_in(
    tmp_path, base, child, context, named
):
    renderer = write(tmp_path, {"k/_base.j2": base, "k/p.j2": child})
    with pytest.raises(RenderError) as info:
        renderer.render("k/p", **WHO, context=context)
    file, name = named
    assert info.value.path is not None
    assert info.value.path.name == file
    assert info.value.line == 3
    assert name in info.value.message


def test_syntax_error_names_file_and_line(tmp_path):
    renderer = write(tmp_path, {"p.j2": "linje 1\nlinje 2\n{% if x %}\nuden slutning\n"})
    with pytest.raises(RenderError) as info:
        renderer.render("p", **WHO, context={"x": True})
    assert info.value.path is not None
    assert info.value.path.name == "p.j2"
    assert info.value.line is not None
    assert info.value.line >= 3
    assert "syntax" in info.value.message


def test_syntax_error_on_exact_line(tmp_path):
    renderer = write(tmp_path, {"p.j2": "a\nb {{ x | }}\nc\n"})
    with pytest.raises(RenderError) as info:
        renderer.render("p", **WHO, context={"x": 1})
    assert info.value.line == 2


def test_missing_base_is_render_error(tmp_path):
    renderer = write(tmp_path, {"p.j2": '{% extends "k/_mangler.j2" %}'})
    with pytest.raises(RenderError, match="_mangler"):
        renderer.render("p", **WHO, context={})


def test_filter_given_wrong_value_is_render_error(tmp_path):
    renderer = write(tmp_path, {"p.j2": "a\n{{ n | tal }}\n"})
    with pytest.raises(RenderError) as info:
        renderer.render("p", **WHO, context={"n": "mange"})
    assert info.value.line == 2


def test_render_string(tmp_path):
    renderer = TemplateRenderer(tmp_path)
    title = renderer.render_string(
        "  Karneval {{ event.date | dato }} ", {"event": {"date": date(2024, 5, 25)}}, origin="t"
    )
    assert title == "Karneval 25. maj 2024"


def test_render_string_error_names_origin(tmp_path):
    renderer = TemplateRenderer(tmp_path)
    origin = "campaigns/karneval.toml: title"
    with pytest.raises(RenderError) as info:
        renderer.render_string("Karneval {{ aar }}", {}, origin=origin)
    assert origin in str(info.value)
    assert info.value.line == 1
    with pytest.raises(RenderError) as info:
        renderer.render_string("Karneval {{ aar", {"aar": 1}, origin=origin)
    assert origin in str(info.value)
    assert "syntax" in info.value.message


def test_check_syntax(tmp_path):
    renderer = write(
        tmp_path,
        {
            "ok.j2": "{{ x | dato }}",
            "k/_base.j2": "{% block a %}",
            "k/ukendt.j2": "{{ x | ukendt_filter }}",
            "k/fin.x.j2": "{% extends 'k/_base.j2' %}",
            "noter.txt": "{{ ikke en skabelon",
        },
    )
    problems = renderer.check_syntax()
    names = sorted(p.path.name for p in problems if p.path is not None)
    assert names == ["_base.j2", "ukendt.j2"]
    assert all(p.line for p in problems)


def test_check_syntax_empty_folder(tmp_path):
    assert TemplateRenderer(tmp_path).check_syntax() == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="{\r"), max_size=60))
def test_a_title_without_tags_renders_as_jinja2_would(tmp_path_factory, source):
    """Titles with no `{` skip jinja2: the same text, the same error for a NUL."""
    renderer = TemplateRenderer(tmp_path_factory.getbasetemp(), cache_folder=None)

    def by_jinja2() -> str:
        compiled = renderer.env.from_string(source)
        text = renderer.env.render(compiled, {}).strip()
        return _cleaned(text, "t")

    try:
        expected: str | Exception = by_jinja2()
    except RenderError as exc:
        expected = exc
    if isinstance(expected, Exception):
        with pytest.raises(RenderError) as caught:
            renderer.render_string(source, {}, origin="t")
        assert str(caught.value) == str(expected)
    else:
        assert renderer.render_string(source, {}, origin="t") == expected


def test_a_title_with_a_carriage_return_or_a_tag_still_goes_through_jinja2(tmp_path):
    renderer = TemplateRenderer(tmp_path, cache_folder=None)
    assert renderer.render_string("Hej\r\nverden", {}, origin="t") == "Hej\nverden"
    assert renderer.render_string("Hej {{ '}}' }}", {}, origin="t") == "Hej }}"
    assert renderer.render_string("a {# b #} c", {}, origin="t") == "a  c"
