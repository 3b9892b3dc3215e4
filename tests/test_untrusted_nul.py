"""NUL and control characters in text that comes in, on SQLite and on PostgreSQL.

PostgreSQL cannot store a NUL in a text column and answered with a DataError that the CLI
called a bug in comms; SQLite stored it. Now a NUL is refused with a message naming where it
came from (file and line, import row, form field), the store refuses one in any statement as
the last net, and the other control characters but tab and newlines are taken out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from comms import accounts, passwords
from comms.config import Settings, load_settings
from comms.content.clean import has_controls, strip_controls
from comms.errors import InputError
from comms.store.db import ensure_schema, session_scope
from comms.store.models import Post
from tests.cli import comms_cli
from tests.factories import add_post, get_post
from tests.pg import BACKENDS, fresh_database
from tests.web.conftest import CHANNELS, PASSWORD, Client

HEADER = "channel,published_at,title,url,reach,impressions,engagements"


def _on(backend: str, make_settings, channels: str | None = None) -> Iterator[Settings]:
    if backend == "sqlite":
        yield make_settings(channels=channels)
        return
    with fresh_database() as url:
        config = make_settings(schema=False, channels=channels).path
        assert config is not None
        text = config.read_text(encoding="utf-8")
        config.write_text(
            re.sub(r'url = "sqlite:///[^"]*"', f'url = "{url}"', text), encoding="utf-8"
        )
        settings = load_settings(config)
        ensure_schema(settings.database_url)
        yield settings


@pytest.fixture(params=BACKENDS)
def any_settings(request, make_settings) -> Iterator[Settings]:
    yield from _on(request.param, make_settings)


@given(st.text())
def test_stripping_leaves_no_control_but_tab_and_newlines(text: str):
    cleaned = strip_controls(text)
    assert not has_controls(cleaned.replace("\x00", ""))
    assert set(cleaned) <= set(text)


def set_title(url: str, post_id: int, title: str) -> None:
    with session_scope(url) as session:
        post = session.get(Post, post_id)
        assert post is not None
        post.title = title


def test_the_store_refuses_a_nul_with_its_own_message(any_settings: Settings):
    url = any_settings.database_url
    with pytest.raises(InputError, match="NUL character"):
        add_post(url, text="Hej\x00Aalborg")
    post_id = add_post(url, text="Hej Aalborg")
    with pytest.raises(InputError):
        set_title(url, post_id, "\x00")
    assert get_post(url, post_id).title == "Titel"  # nothing of it was written


def test_an_import_row_with_a_nul_is_refused_with_its_line(any_settings: Settings, tmp_path: Path):
    path = tmp_path / "posts.csv"
    path.write_text(
        f"{HEADER}\nfacebook,2019-01-14 10:00,God,,5,,\nfacebook,2019-01-15 10:00,Ond\x00,,5,,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        comms_cli(), ["--config", str(any_settings.path), "import", str(path)]
    )
    assert result.exit_code == 1
    assert f"{path}:3: title indeholder et NUL-tegn" in result.output
    assert "bug in comms" not in result.output
    with session_scope(any_settings.database_url) as session:
        assert session.exec(select(Post)).all() == []


def test_an_imported_title_loses_its_control_characters(any_settings: Settings, tmp_path: Path):
    path = tmp_path / "posts.csv"
    path.write_text(
        f'{HEADER}\nfacebook,2019-01-14 10:00,"Linje\x0bto\x1b[31m rød",,5,,\n', encoding="utf-8"
    )
    result = CliRunner().invoke(
        comms_cli(), ["--config", str(any_settings.path), "import", str(path)]
    )
    assert result.exit_code == 0, result.output
    with session_scope(any_settings.database_url) as session:
        [post] = session.exec(select(Post)).all()
    assert post.title == "Linjeto[31m rød"


def test_a_nul_in_a_campaign_file_is_an_error_at_its_line(project: Path):
    path = project / "campaigns" / "karneval.toml"
    text = path.read_text(encoding="utf-8")
    line = 'title = "Karneval {{ event.year }}: Sådan bliver festen tryg for alle"'
    assert line in text
    path.write_text(text.replace(line, 'title = "Karneval\\u0000"'), encoding="utf-8")
    number = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "\\u0000" in t)
    result = CliRunner().invoke(comms_cli(), ["campaigns", "validate"])
    assert result.exit_code != 0
    assert f"karneval.toml:{number}: title contains a NUL character" in result.output


def test_a_nul_a_template_renders_is_an_error_naming_it(project: Path):
    template = project / "templates" / "karneval" / "dagen.j2"
    template.write_text("I dag er det karneval\x00!", encoding="utf-8")
    result = CliRunner().invoke(comms_cli(), ["campaigns", "validate", "--year", "2027"])
    assert result.exit_code != 0
    assert "dagen.j2: the rendered text contains a NUL character" in result.output


def test_control_characters_a_template_renders_are_taken_out(project: Path):
    template = project / "templates" / "karneval" / "dagen.j2"
    template.write_text("I dag\x0b er det\x1b[2J karneval!", encoding="utf-8")
    result = CliRunner().invoke(
        comms_cli(), ["campaigns", "preview", "karneval", "--year", "2027", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert "I dag er det[2J karneval!" in result.output


@pytest.fixture(params=BACKENDS)
def web_site(request, make_settings) -> Iterator[Settings]:
    previous = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        for settings in _on(request.param, make_settings, CHANNELS):
            with session_scope(settings.database_url) as session:
                accounts.add_user(
                    session, "eva", PASSWORD, role="editor", organisation="kommune", actor="t"
                )
            yield settings
    finally:
        passwords.use_hasher(previous)


def test_a_nul_in_a_form_is_400_in_danish_on_both_databases(web_site: Settings):
    eva = Client(web_site)
    try:
        assert eva.sign_in("eva").status_code == 303
        eva.get("/compose")
        fields = {"channel": "kommune-facebook", "when": "approval", "action": "draft"}
        response = eva.post("/compose", {**fields, "text": "Blå\x00 Mandag"})
        assert response.status_code == 400
        assert "NUL-tegn" in response.text
        # a sign-in form, read by no page's checks: the store's net answers, also 400
        stranger = Client(web_site)
        stranger.get("/login")
        answer = stranger.post("/login", {"username": "eva\x00", "password": "x"})
        assert answer.status_code == 400
        assert "NUL-tegn" in answer.text
        stranger.http.close()
        eva.get("/compose")
        ok = eva.post("/compose", {**fields, "text": "Blå\x0b Mandag"})
        assert ok.status_code == 303, ok.text
        with session_scope(web_site.database_url) as session:
            [post] = session.exec(select(Post)).all()
        assert post.text == "Blå Mandag"
    finally:
        eva.http.close()
