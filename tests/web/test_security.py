"""The workspace's guard, through Starlette's TestClient against a real SQLite file: hosts,
headers, CSRF, sign-in, sessions, throttling, error pages."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select
from starlette.testclient import TestClient

from comms import accounts
from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import WebSession
from comms.web import create_app
from comms.web.auth import safe_next
from tests.web.conftest import ORIGIN, PASSWORD, Client, add_post


def test_a_host_not_on_the_list_is_refused(site: Settings):
    app = create_app(site, bound_host="127.0.0.1")
    with TestClient(app, base_url="http://evil.example") as http:
        response = http.get("/login")
    assert response.status_code == 400
    assert "Adressen er ikke kendt" in response.text
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        with TestClient(app, base_url=f"http://{host}") as http:
            assert http.get("/login").status_code == 200, host


def test_configured_hosts_replace_the_default(make_settings):
    from tests.web.conftest import CHANNELS

    settings = make_settings('[web]\nallowed_hosts = ["comms.aalborg.dk"]\n', channels=CHANNELS)
    app = create_app(settings, bound_host="127.0.0.1")
    with TestClient(app, base_url="https://comms.aalborg.dk") as http:
        assert http.get("/login").status_code == 200
    with TestClient(app, base_url="http://localhost") as http:
        assert http.get("/login").status_code == 400


def test_every_answer_has_the_security_headers(client):
    anonymous = client(None)
    for path in ("/login", "/static/comms.css", "/no-such-page", "/"):
        response = anonymous.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"


def test_no_page_has_inline_script_or_style(client, site: Settings):
    post_id = add_post(site)
    admin = client("admin")
    for path in ("/", "/queue", f"/posts/{post_id}", "/users", "/audit", "/login"):
        html = admin.get(path, follow_redirects=True).text
        assert "<script>" not in html, path
        assert "<style" not in html, path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path


def test_every_page_but_login_needs_sign_in(client, site: Settings):
    post_id = add_post(site)
    anonymous = client(None)
    for path in ("/", "/queue?state=draft", f"/posts/{post_id}", "/calendar", "/report", "/users"):
        response = anonymous.get(path)
        assert response.status_code == 303, path
        location = response.headers["location"]
        assert location.startswith("/login?next=/"), location
    response = anonymous.get("/queue?state=draft")
    assert response.headers["location"] == "/login?next=/queue%3Fstate%3Ddraft"


def test_sign_in_goes_to_next_but_only_on_this_site(client):
    browser = client(None)
    browser.get("/login?next=/queue")
    response = browser.post(
        "/login", {"username": "anna", "password": PASSWORD, "next": "/queue?state=draft"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/queue?state=draft"
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"):
        assert safe_next(hostile) == "/"
    assert safe_next("/posts/3") == "/posts/3"


def test_the_session_cookie(client):
    browser = client(None)
    response = browser.sign_in("anna")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("comms_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain http on localhost
    value = cookie.split(";")[0].split("=", 1)[1]
    assert "anna" not in value
    assert len(value) >= 40


def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy(site: Settings, make_settings):
    from tests.web.conftest import CHANNELS

    with TestClient(create_app(site), base_url=ORIGIN) as http:
        # TestClient's peer is "testclient", not on the default list (loopback only)
        page = http.get("/login", headers={"x-forwarded-proto": "https"})
        assert "Secure" not in page.headers["set-cookie"]
    proxied = make_settings('[web]\ntrusted_proxies = ["testclient"]\n', channels=CHANNELS)
    with TestClient(create_app(proxied), base_url=ORIGIN) as http:
        response = http.get("/login", headers={"x-forwarded-proto": "https"})
    assert "Secure" in response.headers["set-cookie"]
    assert "max-age=31536000" in response.headers["strict-transport-security"]


def test_a_wrong_password_is_refused_and_throttling_gives_429(client):
    browser = client(None)
    first = browser.sign_in("anna", "forkert-kodeord-123")
    assert first.status_code == 400
    assert "Forkert brugernavn eller adgangskode" in first.text
    statuses = [browser.sign_in("anna", "forkert-kodeord-123").status_code for _ in range(8)]
    assert statuses[-1] == 429
    last = browser.sign_in("anna")  # even the right password waits now
    assert last.status_code == 429
    assert int(last.headers["retry-after"]) >= 1
    assert "Vent" in last.text


def test_a_login_post_without_its_token_or_from_elsewhere_is_refused(client):
    browser = client(None)
    browser.get("/login")
    no_token = browser.post("/login", {"username": "anna", "password": PASSWORD}, token="x")
    assert no_token.status_code == 403
    response = browser.post(
        "/login", {"username": "anna", "password": PASSWORD}, origin="https://evil.example"
    )
    assert response.status_code == 403
    assert "kom ikke fra denne side" in response.text


def test_a_cross_origin_form_post_is_refused(client, site: Settings):
    post_id = add_post(site, author="eva")
    anna = client("anna")
    anna.get(f"/posts/{post_id}")
    refused = anna.post(f"/posts/{post_id}/approve", origin="https://evil.example")
    assert refused.status_code == 403
    no_origin = anna.post(f"/posts/{post_id}/approve", origin=None)
    assert no_origin.status_code == 403
    wrong_token = anna.post(f"/posts/{post_id}/approve", token="not-the-token")
    assert wrong_token.status_code == 403
    assert anna.get(f"/posts/{post_id}").text.count("state-draft") >= 1
    assert anna.post(f"/posts/{post_id}/approve").status_code == 303


def test_a_referer_of_this_site_stands_in_for_origin(client, site: Settings):
    post_id = add_post(site)
    anna = client("anna")
    anna.get(f"/posts/{post_id}")
    response = anna.http.post(
        f"/posts/{post_id}/approve",
        data={"csrf_token": anna.token},
        headers={"referer": f"{ORIGIN}/posts/{post_id}"},
    )
    assert response.status_code == 303


def test_sign_out_ends_the_session(client, site: Settings):
    anna = client("anna")
    anna.get("/")
    old_cookie = anna.http.cookies.get("comms_session")
    assert anna.post("/logout").status_code == 303
    assert anna.get("/").status_code == 303
    again = Client(site)
    again.http.cookies.set("comms_session", old_cookie)
    assert again.get("/").status_code == 303


def test_a_disabled_users_session_ends_at_once(client, site: Settings):
    eva = client("eva")
    assert eva.get("/").status_code == 200
    admin = client("admin")
    admin.get("/users")
    assert admin.post("/users/eva/disable").status_code == 303
    assert eva.get("/").status_code == 303
    assert eva.sign_in("eva").status_code == 400


def test_an_idle_session_expires(client, site: Settings):
    anna = client("anna")
    with session_scope(site.database_url) as session:
        for row in session.exec(select(WebSession)).all():
            row.last_seen_at -= timedelta(minutes=61)
            session.add(row)
    assert anna.get("/").status_code == 303


def test_error_pages_show_no_exception_text(site: Settings, monkeypatch):
    import comms.web.overview as overview_module

    def broken(*args, **kwargs):
        raise RuntimeError("secret-detail-/var/lib/comms/token=abc")

    monkeypatch.setattr(overview_module, "channel_problems", broken)
    browser = Client(site)
    browser.http = TestClient(
        create_app(site), base_url=ORIGIN, follow_redirects=False, raise_server_exceptions=False
    )
    browser.sign_in("anna")
    response = browser.get("/")
    assert response.status_code == 500
    assert "secret-detail" not in response.text
    assert "RuntimeError" not in response.text
    assert "Der skete en fejl" in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    missing = browser.get("/no-such-page")
    assert missing.status_code == 404
    assert "Siden findes ikke" in missing.text


def test_a_password_account_is_hashed_and_sessions_are_server_side(site: Settings, client):
    client("anna")
    with session_scope(site.database_url) as session:
        user = accounts.get_user(session, "anna")
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert len(session.exec(select(WebSession)).all()) == 1


def test_a_request_body_too_large_is_refused(client, site: Settings):
    from comms.web.security import MAX_BODY

    anna = client("anna")
    anna.get("/")
    huge = anna.http.post(
        "/compose",
        content=b"x" * (MAX_BODY + 1),
        headers={"origin": ORIGIN, "content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"y" * 65536

    streamed = anna.http.post(
        "/compose",
        content=chunks(),
        headers={"origin": ORIGIN, "content-type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413
    small = anna.http.post(
        "/compose",
        content=iter([b"y" * 65536] * 16),  # a megabyte, streamed: read, then refused as a form
        headers={"origin": ORIGIN, "content-type": "application/x-www-form-urlencoded"},
    )
    assert small.status_code == 403  # no CSRF token in it; not too large


def test_signing_in_again_ends_the_old_session(client, site: Settings):
    anna = client("anna")
    old = anna.http.cookies.get("comms_session")
    assert anna.sign_in("eva").status_code == 303
    assert anna.http.cookies.get("comms_session") != old
    stale = Client(site)
    stale.http.cookies.set("comms_session", old)
    assert stale.get("/").status_code == 303  # back to the sign-in page
