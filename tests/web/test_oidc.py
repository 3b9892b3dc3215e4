"""Single sign-on: through a real OpenID provider (npm oidc-provider, started by the fixture) to a
signed-in session, and every way a sign-in must be refused; plus the claim mapping on its own.

The browser's part at the provider (its sign-in form) is played by `requests`; comms is the
Starlette app under TestClient on a real SQLite file, talking to the provider over real HTTP
(discovery, token exchange, JWKS).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import textwrap
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey
from sqlmodel import select
from starlette.testclient import TestClient

from comms import accounts
from comms.access import Role
from comms.config import OidcSettings, Settings
from comms.store.db import session_scope, sqlite_path
from comms.store.models import AuditEvent, PendingAuthorisation, User, WebSession, utcnow
from comms.web import create_app
from comms.web.context import SESSION_COOKIE
from comms.web.oidc import (
    CLOCK_LEEWAY,
    PENDING_COOKIE,
    PENDING_SECONDS,
    Pending,
    PendingSignIns,
    SignOnRefused,
    map_claims,
    pick_role,
    verify_id_token,
)
from tests.headless import CHROMIUM_ARGS, chromium
from tests.peers.oidc import (
    ROLE_MAP,
    TEST_CLIENT_CALLBACK,
    Client,
    OidcPeer,
    oidc_peer,  # noqa: F401 - the fixture
)
from tests.web.conftest import CHANNELS
from tests.web.live import comms_serve, serving

SECRET_ENV = "COMMS_TEST_OIDC_SECRET"
ORIGIN = "http://localhost"


# --- the claim mapping, alone -------------------------------------------------------------------


def settings_for(role_map: dict[str, str] | None = None) -> OidcSettings:
    return OidcSettings(
        issuer="https://login.example.dk",
        client_id="comms",
        roles_claim="comms_roles",
        organisation_claim="organisation",
        role_map=ROLE_MAP if role_map is None else role_map,
    )


def test_a_provider_role_name_maps_to_its_comms_role() -> None:
    identity = map_claims(
        {"sub": "1", "comms_roles": ["kommunikation-godkender"], "organisation": "politi"},
        settings_for(),
    )
    assert (identity.role, identity.organisation) == (Role.APPROVER, "politi")


def test_of_several_roles_the_highest_counts_and_unknown_ones_are_ignored() -> None:
    values = ["hr-medarbejder", "kommunikation-laeser", "kommunikation-redaktoer"]
    assert pick_role(values, ROLE_MAP) is Role.EDITOR


def test_a_role_claim_that_is_one_string_counts_like_a_list_of_one() -> None:
    identity = map_claims(
        {"sub": "1", "comms_roles": "kommunikation-admin", "organisation": "region"},
        settings_for(),
    )
    assert identity.role is Role.ADMIN


def test_without_a_role_map_only_comms_own_role_names_count() -> None:
    assert pick_role(["approver"], {}) is Role.APPROVER
    assert pick_role(["Approver", "godkender"], {}) is None


def test_with_a_role_map_a_bare_comms_role_name_gives_nothing() -> None:
    """A provider group that happens to be called "admin" must not make anyone an admin."""
    assert pick_role(["admin"], ROLE_MAP) is None


def test_no_recognised_role_is_refused_in_danish() -> None:
    with pytest.raises(SignOnRefused, match="ingen rolle i comms"):
        map_claims(
            {"sub": "1", "comms_roles": ["hr-medarbejder"], "organisation": "politi"},
            settings_for(),
        )


def test_a_missing_role_claim_is_refused() -> None:
    with pytest.raises(SignOnRefused, match="ingen rolle"):
        map_claims({"sub": "1", "organisation": "politi"}, settings_for())


def test_an_approver_without_organisation_is_refused_rather_than_given_every_organisation() -> None:
    with pytest.raises(SignOnRefused, match="ingen organisation"):
        map_claims({"sub": "1", "comms_roles": ["kommunikation-godkender"]}, settings_for())


def test_an_admin_may_come_without_organisation() -> None:
    identity = map_claims({"sub": "1", "comms_roles": ["kommunikation-admin"]}, settings_for())
    assert (identity.role, identity.organisation) == (Role.ADMIN, None)


def test_two_organisations_are_refused() -> None:
    with pytest.raises(SignOnRefused, match="flere organisationer"):
        map_claims(
            {"sub": "1", "comms_roles": ["kommunikation-godkender"], "organisation": ["a", "b"]},
            settings_for(),
        )


def test_the_organisation_is_taken_in_comms_lower_case_form() -> None:
    identity = map_claims(
        {"sub": "1", "comms_roles": ["kommunikation-redaktoer"], "organisation": " Kommune "},
        settings_for(),
    )
    assert identity.organisation == "kommune"


def test_the_username_comes_from_the_username_claim_else_the_email_else_the_subject() -> None:
    base = {"sub": "S-1", "comms_roles": ["kommunikation-laeser"], "organisation": "region"}
    oidc = settings_for()
    named = {**base, "preferred_username": "Anna.Holm", "email": "anna@x.dk"}
    assert map_claims(named, oidc).username == "anna.holm"
    assert map_claims({**base, "email": "Anna@X.dk"}, oidc).username == "anna@x.dk"
    assert map_claims(base, oidc).username == "s-1"


def test_a_token_without_subject_is_refused() -> None:
    with pytest.raises(SignOnRefused, match="sub"):
        map_claims({"comms_roles": ["kommunikation-admin"]}, settings_for())


def test_a_begun_sign_in_is_given_out_once_and_not_after_its_lifetime(
    make_settings: Callable[..., Settings],
) -> None:
    url = make_settings(channels=CHANNELS).database_url
    store = PendingSignIns(url, lifetime=600)
    pending = Pending("s", "n", "v", "/", "http://localhost/cb")
    key = store.put(pending)
    assert store.take(key) == pending
    assert store.take(key) is None
    late = store.put(pending)
    assert store.take(late, now=utcnow() + timedelta(seconds=601)) is None
    assert store.take("guessed") is None


# --- helpers for the real provider --------------------------------------------------------------


def provider_sign_in(auth_url: str, issuer: str, login: str, password: str) -> str:
    """Play the browser at the provider: follow its redirects, fill in its form; return the
    URL it sends the browser back to (the client's callback, with code and state)."""
    browser = requests.Session()
    url = auth_url
    for _ in range(10):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if not url.startswith(issuer):
                return url
            continue
        assert response.status_code == 200, response.text[:300]
        action = re.search(r'<form method="post" action="([^"]+)"', response.text)
        assert action, response.text[:300]
        posted = browser.post(
            urljoin(url, action.group(1)),
            data={"login": login, "password": password},
            allow_redirects=False,
            timeout=10,
        )
        assert posted.is_redirect, posted.text[:300]
        url = urljoin(url, posted.headers["location"])
    raise AssertionError("the provider never sent the browser back")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def provider_code(peer: OidcPeer, client: Client, login: str, *, nonce: str) -> tuple[str, str]:
    """A code the provider issued to `client` for `login`, and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": TEST_CLIENT_CALLBACK,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(16),
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    back = provider_sign_in(
        f"{peer.issuer}/auth?{urlencode(query)}", peer.issuer, login, peer.passwords[login]
    )
    return parse_qs(urlsplit(back).query)["code"][0], verifier


def provider_id_token(peer: OidcPeer, client: Client, login: str, *, nonce: str) -> str:
    """A real ID token the provider issued to `client` (the whole code flow, done by hand)."""
    code, verifier = provider_code(peer, client, login, nonce=nonce)
    answer = requests.post(
        f"{peer.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": TEST_CLIENT_CALLBACK,
            "code_verifier": verifier,
        },
        auth=(client.client_id, client.client_secret),
        timeout=10,
    )
    assert answer.ok, answer.text
    return answer.json()["id_token"]


def provider_keys(peer: OidcPeer) -> KeySet:
    return KeySet.import_key_set(requests.get(f"{peer.issuer}/jwks", timeout=10).json())


@pytest.fixture
def sso_site(
    oidc_peer: OidcPeer,  # noqa: F811 - the fixture
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """comms with [web.oidc] pointing at the real provider, as the `comms` client."""
    monkeypatch.setenv(SECRET_ENV, oidc_peer.comms.client_secret)
    role_map = "\n".join(f'"{name}" = "{role}"' for name, role in ROLE_MAP.items())
    extra = textwrap.dedent(f"""
        [web.oidc]
        issuer = "{oidc_peer.issuer}"
        client_id = "{oidc_peer.comms.client_id}"
        client_secret_env = "{SECRET_ENV}"
        roles_claim = "comms_roles"
        organisation_claim = "organisation"
        """)
    return make_settings(extra + "[web.oidc.role_map]\n" + role_map + "\n", channels=CHANNELS)


def browser(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False)


def another_browser(app: TestClient) -> TestClient:
    """A second browser (no cookies) on the same running comms."""
    return TestClient(app.app, base_url=ORIGIN, follow_redirects=False)


def begin(app: TestClient, next_path: str = "/") -> str:
    """Start SSO in comms; the provider URL it sends the browser to."""
    response = app.get(f"/login/oidc?next={next_path}")
    assert response.status_code == 303, response.text
    return response.headers["location"]


def back_to_comms(app: TestClient, callback_url: str, **headers: str):  # type: ignore[no-untyped-def]
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == TEST_CLIENT_CALLBACK
    return app.get(f"{parts.path}?{parts.query}", headers=headers)


def sessions(settings: Settings) -> list[WebSession]:
    with session_scope(settings.database_url) as db:
        return list(db.exec(select(WebSession)).all())


def user(settings: Settings, username: str) -> User | None:
    with session_scope(settings.database_url) as db:
        return accounts.get_user(db, username)


# --- through the real provider ------------------------------------------------------------------


def at_provider(sso_site: Settings, peer: OidcPeer, name: str) -> tuple[TestClient, str]:
    """A browser of comms that began a sign-in and signed in as `name` at the provider; the
    callback address the provider sends it back to."""
    app = browser(sso_site)
    return app, provider_sign_in(begin(app), peer.issuer, name, peer.passwords[name])


@pytest.mark.slow
def test_sign_in_through_the_provider_ends_in_a_session_with_the_mapped_role_and_organisation(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app = browser(sso_site)
    callback = provider_sign_in(
        begin(app, "/queue"), oidc_peer.issuer, "anna", oidc_peer.passwords["anna"]
    )
    response = back_to_comms(app, callback)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/queue"
    cookie = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    page = app.get("/queue")
    assert page.status_code == 200
    assert "anna" in page.text
    anna = user(sso_site, "anna")
    assert anna is not None
    assert (anna.role, anna.organisation, anna.email) == (
        "approver",
        "politi",
        "anna@politi.example.dk",
    )
    assert anna.password_hash is None
    assert anna.oidc_subject == f"{oidc_peer.issuer}#anna"
    with session_scope(sso_site.database_url) as db:
        logins = db.exec(select(AuditEvent).where(AuditEvent.action == "login")).all()
    assert [event.actor for event in logins] == ["anna"]


@pytest.mark.slow
def test_the_highest_of_several_provider_roles_and_a_lower_cased_organisation(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app, callback = at_provider(sso_site, oidc_peer, "bo")
    assert back_to_comms(app, callback).status_code == 303
    bo = user(sso_site, "bo")
    assert bo is not None
    assert (bo.role, bo.organisation) == ("editor", "kommune")


@pytest.mark.slow
def test_a_second_sign_in_brings_the_account_up_to_date_without_a_second_account(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    with session_scope(sso_site.database_url) as db:
        accounts.upsert_oidc_user(
            db,
            subject=f"{oidc_peer.issuer}#anna",
            username="anna",
            email=None,
            role="viewer",
            organisation="region",
        )
    app, callback = at_provider(sso_site, oidc_peer, "anna")
    assert back_to_comms(app, callback).status_code == 303
    with session_scope(sso_site.database_url) as db:
        people = db.exec(select(User)).all()
    assert [(u.username, u.role, u.organisation) for u in people] == [
        ("anna", "approver", "politi")
    ]


@pytest.mark.slow
def test_the_authorization_request_uses_pkce_and_keeps_state_and_nonce_off_the_browser(
    sso_site: Settings,
) -> None:
    app = browser(sso_site)
    response = app.get("/login/oidc")
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url of a SHA-256 digest
    assert "code_verifier" not in query
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "path=/login/oidc" in cookie.lower()
    for secret in (query["state"][0], query["nonce"][0]):
        assert secret not in cookie


@pytest.mark.slow
def test_an_unknown_role_is_refused_with_a_danish_page_and_no_account(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app, callback = at_provider(sso_site, oidc_peer, "gitte")
    response = back_to_comms(app, callback)
    assert response.status_code == 403
    assert "ingen rolle i comms" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert user(sso_site, "gitte") is None
    assert sessions(sso_site) == []


@pytest.mark.slow
def test_a_role_without_organisation_is_refused(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app, callback = at_provider(sso_site, oidc_peer, "ole")
    response = back_to_comms(app, callback)
    assert response.status_code == 403
    assert "ingen organisation" in response.text
    assert sessions(sso_site) == []


@pytest.mark.slow
def test_a_replayed_callback_is_refused(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app = browser(sso_site)
    start = app.get("/login/oidc")
    pending = start.cookies[PENDING_COOKIE]
    callback = provider_sign_in(
        start.headers["location"], oidc_peer.issuer, "anna", oidc_peer.passwords["anna"]
    )
    assert back_to_comms(app, callback).status_code == 303
    # someone who copied the callback URL and the sign-in cookie tries them again
    replay = another_browser(app)
    response = back_to_comms(replay, callback, cookie=f"{PENDING_COOKIE}={pending}")
    assert response.status_code == 400
    assert "udløbet eller allerede brugt" in response.text
    assert len(sessions(sso_site)) == 1


@pytest.mark.slow
def test_a_wrong_state_is_refused_and_uses_up_the_sign_in(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app, callback = at_provider(sso_site, oidc_peer, "anna")
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    forged = {**{k: v[0] for k, v in query.items()}, "state": secrets.token_urlsafe(32)}
    response = app.get(f"{parts.path}?{urlencode(forged)}")
    assert response.status_code == 400
    # the right state afterwards does not help: a begun sign-in is checked once
    assert back_to_comms(app, callback).status_code == 400
    assert sessions(sso_site) == []


@pytest.mark.slow
def test_a_callback_without_the_sign_in_cookie_is_refused(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    """Login CSRF: a victim's browser opening an attacker's callback link gets no session."""
    attacker = browser(sso_site)
    callback = provider_sign_in(
        begin(attacker), oidc_peer.issuer, "anna", oidc_peer.passwords["anna"]
    )
    victim = another_browser(attacker)
    assert back_to_comms(victim, callback).status_code == 400
    assert sessions(sso_site) == []


@pytest.mark.slow
def test_a_code_issued_to_another_client_is_refused(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app, callback = at_provider(sso_site, oidc_peer, "anna")
    foreign, _ = provider_code(oidc_peer, oidc_peer.other, "anna", nonce="x")
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    response = app.get(f"{parts.path}?{urlencode({**query, 'code': foreign})}")
    assert response.status_code == 403
    assert "mislykkedes" in response.text
    assert oidc_peer.other.client_secret not in response.text
    assert sessions(sso_site) == []


@pytest.mark.slow
def test_a_misconfigured_client_id_signs_nobody_in(
    make_settings: Callable[..., Settings],
    oidc_peer: OidcPeer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """comms set up with another app's client id (and its own secret): the provider's refusal
    ends in a Danish page, not a session or an exception."""
    monkeypatch.setenv(SECRET_ENV, oidc_peer.comms.client_secret)
    settings = make_settings(
        textwrap.dedent(f"""
        [web.oidc]
        issuer = "{oidc_peer.issuer}"
        client_id = "{oidc_peer.other.client_id}"
        client_secret_env = "{SECRET_ENV}"
        roles_claim = "comms_roles"
        [web.oidc.role_map]
        "kommunikation-godkender" = "approver"
        """),
        channels=CHANNELS,
    )
    app = browser(settings)
    callback = provider_sign_in(begin(app), oidc_peer.issuer, "anna", oidc_peer.passwords["anna"])
    response = back_to_comms(app, callback)
    assert response.status_code == 403
    assert oidc_peer.comms.client_secret not in response.text
    assert sessions(settings) == []


@pytest.mark.slow
def test_a_disabled_sso_account_cannot_sign_in_again(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app, callback = at_provider(sso_site, oidc_peer, "anna")
    assert back_to_comms(app, callback).status_code == 303
    with session_scope(sso_site.database_url) as db:
        accounts.disable_user(db, "anna", actor="admin")
    again = browser(sso_site)
    callback = provider_sign_in(begin(again), oidc_peer.issuer, "anna", oidc_peer.passwords["anna"])
    response = back_to_comms(again, callback)
    assert response.status_code == 403
    assert "spærret" in response.text
    assert all(row.ended_at is not None for row in sessions(sso_site))


@pytest.mark.slow
def test_a_password_account_of_the_same_name_is_not_taken_over(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    with session_scope(sso_site.database_url) as db:
        accounts.add_user(db, "anna", "blaa-mandag-2027-lygte", role="viewer", actor="test")
    app, callback = at_provider(sso_site, oidc_peer, "anna")
    response = back_to_comms(app, callback)
    assert response.status_code == 403
    assert "allerede i brug" in response.text
    anna = user(sso_site, "anna")
    assert anna is not None
    assert (anna.role, anna.oidc_subject) == ("viewer", None)


@pytest.mark.slow
def test_a_refusal_at_the_provider_is_refused_here(
    sso_site: Settings,
) -> None:
    app = browser(sso_site)
    state = parse_qs(urlsplit(begin(app)).query)["state"][0]
    response = app.get(
        "/login/oidc/callback?" + urlencode({"error": "access_denied", "state": state})
    )
    assert response.status_code == 403
    assert sessions(sso_site) == []


@pytest.mark.slow
def test_a_second_workspace_process_completes_the_sign_in_and_refuses_a_replay(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    """Behind a load balancer (or after a restart) the provider's redirect reaches another
    `comms serve` than the one that began the sign-in: it signs the user in, once."""
    app = browser(sso_site)
    start = app.get("/login/oidc?next=/queue")
    cookie = {PENDING_COOKIE: start.cookies[PENDING_COOKIE]}
    callback = provider_sign_in(
        start.headers["location"], oidc_peer.issuer, "anna", oidc_peer.passwords["anna"]
    )
    parts = urlsplit(callback)
    with comms_serve(sso_site) as other:
        there = f"{other}{parts.path}?{parts.query}"
        done = requests.get(there, cookies=cookie, allow_redirects=False, timeout=30)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/queue"
        assert f"{SESSION_COOKIE}=" in done.headers["set-cookie"]
        replay = requests.get(there, cookies=cookie, allow_redirects=False, timeout=30)
        assert replay.status_code == 400
        assert "udløbet eller allerede brugt" in replay.text
    assert back_to_comms(app, callback).status_code == 400  # nor where it began
    assert [row.ended_at for row in sessions(sso_site)] == [None]
    anna = user(sso_site, "anna")
    assert anna is not None
    assert anna.role == "approver"


@pytest.mark.slow
def test_a_sign_in_that_took_too_long_is_refused(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    app, callback = at_provider(sso_site, oidc_peer, "anna")
    with session_scope(sso_site.database_url) as db:  # as if eleven minutes had passed
        later = utcnow() - timedelta(seconds=PENDING_SECONDS + 60)
        db.execute(
            sa.update(PendingAuthorisation).values(
                created_at=later, expires_at=later + timedelta(seconds=PENDING_SECONDS)
            )
        )
    response = back_to_comms(app, callback)
    assert response.status_code == 400
    assert "udløbet eller allerede brugt" in response.text
    assert sessions(sso_site) == []
    with session_scope(sso_site.database_url) as db:
        assert db.exec(select(PendingAuthorisation)).all() == []


@pytest.mark.slow
def test_the_database_holds_no_state_nonce_verifier_or_cookie_of_a_begun_sign_in(
    sso_site: Settings,
) -> None:
    start = browser(sso_site).get("/login/oidc")
    cookie = start.cookies[PENDING_COOKIE]
    path = sqlite_path(sso_site.database_url)
    assert path is not None
    wal = path.with_name(path.name + "-wal")
    on_disk = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    begun = PendingSignIns(sso_site.database_url).take(cookie)
    assert begun is not None
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["state"] == [begun.state]
    for secret in (begun.state, begun.nonce, begun.verifier, cookie):
        assert len(secret) > 20
        assert secret.encode() not in on_disk


# --- the ID token check, on real tokens from the provider ---------------------------------------


def check(peer: OidcPeer, token: str, **overrides: object) -> dict:
    values: dict = {
        "keys": provider_keys(peer),
        "issuer": peer.issuer,
        "client_id": peer.comms.client_id,
        "nonce": "n-1",
        **overrides,
    }
    return verify_id_token(token, **values)


@pytest.mark.slow
def test_a_real_id_token_for_comms_passes_the_check(oidc_peer: OidcPeer) -> None:  # noqa: F811
    token = provider_id_token(oidc_peer, oidc_peer.comms, "anna", nonce="n-1")
    claims = check(oidc_peer, token)
    assert (claims["sub"], claims["organisation"]) == ("anna", "politi")


@pytest.mark.slow
def test_an_id_token_issued_to_another_client_is_refused(oidc_peer: OidcPeer) -> None:  # noqa: F811
    token = provider_id_token(oidc_peer, oidc_peer.other, "anna", nonce="n-1")
    assert check(oidc_peer, token, client_id=oidc_peer.other.client_id)["aud"]  # valid for it
    with pytest.raises(SignOnRefused):
        check(oidc_peer, token)  # but its audience is not comms


@pytest.mark.slow
def test_an_id_token_with_another_nonce_is_refused(oidc_peer: OidcPeer) -> None:  # noqa: F811
    token = provider_id_token(oidc_peer, oidc_peer.comms, "anna", nonce="n-1")
    with pytest.raises(SignOnRefused):
        check(oidc_peer, token, nonce="n-2")


@pytest.mark.slow
def test_an_id_token_from_another_issuer_is_refused(oidc_peer: OidcPeer) -> None:  # noqa: F811
    token = provider_id_token(oidc_peer, oidc_peer.comms, "anna", nonce="n-1")
    with pytest.raises(SignOnRefused):
        check(oidc_peer, token, issuer="https://login.example.dk")


@pytest.mark.slow
def test_an_expired_id_token_is_refused(oidc_peer: OidcPeer) -> None:  # noqa: F811
    token = provider_id_token(oidc_peer, oidc_peer.comms, "anna", nonce="n-1")
    expires = json.loads(_b64(token.split(".")[1]))["exp"]
    assert check(oidc_peer, token, now=expires + CLOCK_LEEWAY - 5)
    with pytest.raises(SignOnRefused):
        check(oidc_peer, token, now=expires + CLOCK_LEEWAY + 5)


@pytest.mark.slow
def test_an_id_token_with_changed_claims_is_refused(oidc_peer: OidcPeer) -> None:  # noqa: F811
    token = provider_id_token(oidc_peer, oidc_peer.comms, "ole", nonce="n-1")
    head, body, signature = token.split(".")
    claims = json.loads(_b64(body))
    claims["organisation"] = "politi"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(SignOnRefused):
        check(oidc_peer, f"{head}.{forged}.{signature}")


@pytest.mark.slow
def test_a_token_signed_with_the_client_secret_or_unsigned_is_refused(
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    """Algorithm confusion: HS256 with the (known to the client) secret, or alg "none"."""
    real = json.loads(
        _b64(provider_id_token(oidc_peer, oidc_peer.comms, "anna", nonce="n-1").split(".")[1])
    )
    secret = OctKey.import_key(oidc_peer.comms.client_secret.encode())
    hs256 = jwt.encode({"alg": "HS256"}, real, secret)
    with pytest.raises(SignOnRefused):
        check(oidc_peer, hs256)
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(real).encode()).rstrip(b"=").decode()
    with pytest.raises(SignOnRefused):
        check(oidc_peer, f"{header}.{body}.")


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_the_login_page_offers_single_sign_on_only_when_it_is_configured(
    make_settings: Callable[..., Settings],
) -> None:
    plain = make_settings(channels=CHANNELS)
    assert "/login/oidc" not in browser(plain).get("/login").text
    sso = make_settings(
        '[web.oidc]\nissuer = "https://login.example.dk/t/v2.0"\nclient_id = "c"\n',
        channels=CHANNELS,
    )
    page = browser(sso).get("/login?next=/queue")
    assert 'href="/login/oidc?next=/queue"' in page.text
    assert browser(plain).get("/login/oidc").status_code == 404


# --- in Chromium ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_sign_in_with_single_sign_on_in_chromium(
    sso_site: Settings,
    oidc_peer: OidcPeer,  # noqa: F811
) -> None:
    """Click the SSO link, sign in at the provider, land signed in where the user was going."""
    executable = chromium()
    if executable is None:
        pytest.fail("this test needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with serving(sso_site, oidc_peer.app_port) as base, sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = launched.new_context(locale="da-DK")
            page = context.new_page()
            page.goto(base + "/queue")
            assert page.url.startswith(base + "/login")
            page.click("text=Log ind med din organisations konto")
            page.wait_for_url(oidc_peer.issuer + "/interaction/**")
            page.fill("input[name=login]", "anna")
            page.fill("input[name=password]", oidc_peer.passwords["anna"])
            page.click("button[type=submit]")
            page.wait_for_url(base + "/queue")
            assert "anna" in page.content()
            cookies = {c["name"]: c for c in context.cookies(base)}
            assert cookies[SESSION_COOKIE]["httpOnly"]
            assert PENDING_COOKIE not in cookies
        finally:
            launched.close()
    anna = user(sso_site, "anna")
    assert anna is not None
    assert (anna.role, anna.organisation) == ("approver", "politi")
