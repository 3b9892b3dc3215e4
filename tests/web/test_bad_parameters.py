"""The workspace against what a network sends: foreign Host names get nothing, and no path, query
or form field makes a page fail with 500.

Every route of the app is listed from the app itself, so a page added later is thrown at too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from comms.config import Settings
from comms.web import create_app
from comms.web.security import allowed_hosts
from tests.web.conftest import Client, add_post

# parameter names the pages read, and a few they do not
NAMES = [
    "action",
    "after",
    "before",
    "campaign",
    "channel",
    "code",
    "comment",
    "compare_from",
    "compare_to",
    "date",
    "digest",
    "display_name",
    "email",
    "error",
    "format",
    "from",
    "image_alt",
    "image_drop",
    "image_name",
    "image_token",
    "link",
    "next",
    "ok",
    "organisation",
    "outcome",
    "password",
    "post_id",
    "post",
    "reason",
    "role",
    "state",
    "text",
    "time",
    "title",
    "to",
    "url",
    "username",
    "when",
    "year",
    "month",
    "week",
    "view",
    "page",
    "q",
    "user",
]
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "99999999999999999999999",
            "2027-02-30",
            "2027-13-01",
            "9999-12-31",
            "0001-01-01",
            "2027-W60",
            "1e9",
            "NaN",
            "../../etc/passwd",
            "%00",
            "\x00",
            "<script>",
            "javascript:alert(1)",
            "published",
            "kommune-facebook",
            "csv",
            "html",
            "docx",
            "json",
        ]
    ),
)
QUERY = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), VALUES, max_size=5)


def routes(app: Any) -> list[tuple[str, str, list[str]]]:
    """(method, path template, path parameter names) of every route but the static files."""
    found = []
    for route in app.routes:
        if isinstance(route, Mount) or not isinstance(route, Route):
            continue
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, route.path, list(route.param_convertors)))
    return found


@pytest.fixture
def admin(site: Settings, client: Callable[[str | None], Client]) -> Client:
    add_post(site)
    return client("admin")


def test_every_route_is_listed(site: Settings):
    listed = {(method, path) for method, path, _ in routes(create_app(site))}
    assert ("GET", "/queue") in listed
    assert ("POST", "/login") in listed
    assert any("{" in path for _, path in listed)  # the pages of one post, one user, ...


def throw(admin: Client, data: st.DataObject) -> None:
    """One request of a drawn route with drawn path values, query and form: never a 500."""
    method, template, names = data.draw(st.sampled_from(routes(admin.http.app)), label="route")
    path = template
    for name in names:
        value = quote(data.draw(VALUES | st.just("1"), label=name), safe="")
        for convertor in ("", ":int", ":path", ":str"):
            path = path.replace(f"{{{name}{convertor}}}", value)
    query = data.draw(QUERY, label="query")
    target = f"{path}?{urlencode(query)}" if query else path
    if method == "GET":
        response = admin.get(target)
    else:
        admin.get("/")  # a fresh form token, as a browser has
        form = data.draw(QUERY, label="form")
        response = admin.post(target, {str(k): v for k, v in form.items()})
    assert response.status_code < 500, (method, target, response.text[:300])
    assert "Traceback" not in response.text


FUZZ = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(max_examples=80, **FUZZ)
@given(data=st.data())
def test_no_parameter_makes_a_page_fail(admin: Client, data: st.DataObject):
    throw(admin, data)


@pytest.mark.slow
@settings(max_examples=2000, **FUZZ)
@given(data=st.data())
def test_no_parameter_makes_a_page_fail_at_length(admin: Client, data: st.DataObject):
    throw(admin, data)


def test_a_foreign_host_gets_no_post_even_with_a_session(site: Settings, admin: Client):
    """DNS rebinding: a page at evil.example whose name now points at 127.0.0.1."""
    secret = "Hemmeligt udkast om Blå Mandag"
    post_id = add_post(site, text=secret)
    assert secret in admin.get(f"/posts/{post_id}").text
    for path in (f"/posts/{post_id}", "/queue", "/calendar", "/"):
        response = admin.http.get(path, headers={"host": "evil.example"})
        assert response.status_code == 400
        assert secret not in response.text
        assert "Blå Mandag" not in response.text


def test_the_base_url_host_is_allowed_by_default(make_settings):
    settings = make_settings('[web]\nbase_url = "https://comms.aalborg.dk/"\n')
    assert "comms.aalborg.dk" in allowed_hosts(
        settings.web.allowed_hosts, "127.0.0.1", base_url=settings.web.base_url
    )
    app = create_app(settings, bound_host="127.0.0.1")
    with TestClient(app, base_url="https://comms.aalborg.dk") as http:
        assert http.get("/login").status_code == 200
    with TestClient(app, base_url="https://evil.example") as http:
        assert http.get("/login").status_code == 400
