"""Property-based: malformed campaign files, templates, configs and CSV files give a clear error
(a CommsError naming the file, and the line where one exists), never a traceback, and write
nothing to the database."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from comms.campaigns.loader import load_campaign
from comms.config import load_settings
from comms.content.render import TemplateRenderer
from comms.errors import CommsError, LocatedError
from comms.importer.write import import_csv
from comms.store.db import session_scope
from comms.store.models import AuditEvent, Post

VALID_CAMPAIGN = """title = "Refleks"
focus_area = "Trafik"
[variables]
link = "https://www.aalborg.dk/refleks"
[event]
date = { type = "nth_weekday", month = 10, weekday = "torsdag", n = -1 }
[[steps]]
offset_days = -1
time = "09:00"
channels = ["hjemmeside"]
audience = "borgere"
template = "refleks/optakt"
"""

HEADER = "channel,published_at,title,url,reach,impressions,engagements\n"
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

toml_chars = st.sampled_from([*string.printable, "æ", "ø", "å", "\x00", "\ufeff"])


def mutate(text: str, data: st.DataObject) -> str:
    """Delete, duplicate or replace a slice of a valid file."""
    if not text:
        return text
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start, min(len(text), start + 30)))
    filler = data.draw(st.text(toml_chars, max_size=20))
    choice = data.draw(st.sampled_from(["delete", "replace", "duplicate"]))
    if choice == "delete":
        return text[:start] + text[end:]
    if choice == "replace":
        return text[:start] + filler + text[end:]
    return text[:end] + text[start:end] + text[end:]


def assert_clear(error: CommsError, path: Path) -> None:
    message = str(error)
    assert message
    assert "Traceback" not in message
    for each in getattr(error, "errors", None) or [error]:
        if isinstance(each, LocatedError):
            assert each.path is not None
            assert path.name in str(each)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_bytes_as_campaign(raw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.toml"
        path.write_bytes(raw)
        try:
            load_campaign(path)
        except CommsError as error:
            assert_clear(error, path)


@FUZZ
@given(
    source=st.lists(
        st.sampled_from(
            [
                *"{}%#-+|()[]. \nabcæø'\"",
                "{{",
                "}}",
                "{%",
                "%}",
                "endif",
                "link",
                "ugedag",
                "if",
                "for",
            ]
        ),
        max_size=30,
    ).map("".join)
)
def test_random_templates(source):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "t.j2").write_text(source, encoding="utf-8")
        renderer = TemplateRenderer(Path(folder))
        try:
            renderer.render(
                "t",
                channel_name="hjemmeside",
                channel_type="site",
                audience="borgere",
                context={"link": "https://aalborg.dk"},
            )
        except CommsError as error:
            assert_clear(error, Path(folder) / "t.j2")


VALID_CONFIG = """timezone = "Europe/Copenhagen"
[database]
url = "sqlite:///comms.db"
[daemon]
tick_seconds = 15
[channels.hjemmeside]
type = "site"
path = "site"
[channels.facebook]
type = "facebook"
page_id = "123"
token_env = "COMMS_FB_TOKEN"
"""


@pytest.mark.parametrize(
    ("valid", "name", "load"),
    [(VALID_CAMPAIGN, "refleks.toml", load_campaign), (VALID_CONFIG, "comms.toml", load_settings)],
    ids=["campaign", "config"],
)
@FUZZ
@given(data=st.data())
def test_mutated_files(valid, name, load, data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(mutate(valid, data), encoding="utf-8", errors="surrogatepass")
        try:
            load(path)
        except CommsError as error:
            assert_clear(error, path)


cell = st.one_of(
    st.text(st.sampled_from(list('0123456789-:T+Z.," \nabæ')), max_size=12),
    st.sampled_from(["2019-01-14T10:00", "3555", "-1", "1.5", "", "x"]),
)


@FUZZ
@given(
    rows=st.lists(st.lists(cell, min_size=0, max_size=9), max_size=5),
    header=st.sampled_from(
        [HEADER, "", "channel,published_at\n", HEADER.upper(), HEADER.replace("reach", "rech")]
    ),
)
def test_random_csv_rows_import_all_or_nothing(make_settings, rows, header):
    settings = make_settings()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.csv"
        body = header + "".join(",".join(row) + "\n" for row in rows)
        path.write_text(body, encoding="utf-8", errors="surrogatepass")
        with session_scope(settings.database_url) as session:
            before = session.exec(select(func.count()).select_from(Post)).one()
            audits = session.exec(select(func.count()).select_from(AuditEvent)).one()
        try:
            import_csv(settings, path, actor="fuzz")
        except CommsError as error:
            assert_clear(error, path)
            with session_scope(settings.database_url) as session:
                assert session.exec(select(func.count()).select_from(Post)).one() == before
                assert session.exec(select(func.count()).select_from(AuditEvent)).one() == audits
