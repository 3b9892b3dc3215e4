"""Accounts on a real SQLite file: Argon2id hashes, sign-in throttling with growing waits per
account and per address, server-side sessions with idle and absolute expiry, and the account
actions that must end a user's sessions at once. Times are given (`now=`), never slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session, select

from comms import accounts, passwords
from comms.accounts import AccountError, LoginThrottled
from comms.passwords import PasswordRejected
from comms.store.db import session_scope, upgrade
from comms.store.models import AuditEvent, LoginAttempt, User, WebSession

PASSWORD = "korrekt hest batteri hæfteklamme"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
IDLE = timedelta(minutes=60)
ABSOLUTE = timedelta(hours=12)


CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_hashes():
    """Argon2id with small parameters, so dozens of sign-ins take seconds, not minutes."""
    previous = passwords.use_hasher(CHEAP)
    yield
    passwords.use_hasher(previous)


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'comms.db'}"
    upgrade(url)
    with session_scope(url) as session:
        accounts.add_user(
            session, "anna", PASSWORD, role="editor", organisation="kommune", actor="t"
        )
        accounts.add_user(session, "bo", PASSWORD + "!", role="approver", actor="t")
    return url


def login(url, username="anna", password=PASSWORD, *, address="10.0.0.1", at=T0):
    with session_scope(url) as session:
        user = accounts.authenticate(session, username, password, address=address, now=at)
        return user.username if user else None


# --- passwords --------------------------------------------------------------------------------


def test_the_stored_hash_is_argon2id_and_not_the_password(url):
    with session_scope(url) as session:
        stored = accounts.get_user(session, "anna").password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_the_right_password_signs_in_and_a_wrong_one_does_not(url):
    assert login(url) == "anna"
    assert login(url, password=PASSWORD.upper()) is None
    assert login(url, username="ANNA ") == "anna"  # names compare without case or blanks
    assert login(url, username="nobody") is None


def test_the_default_parameters_are_argon2ids_recommended_ones():
    stored = passwords.DEFAULT_HASHER.hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_a_hash_made_with_older_parameters_is_replaced_at_the_next_sign_in(url):
    weak = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(PASSWORD)
    with session_scope(url) as session:
        user = accounts.get_user(session, "anna")
        user.password_hash = weak
        session.add(user)
    assert login(url) == "anna"
    with session_scope(url) as session:
        renewed = accounts.get_user(session, "anna").password_hash
    assert renewed != weak
    assert CHEAP.check_needs_rehash(renewed) is False
    assert login(url, at=T0 + timedelta(seconds=1)) == "anna"


def test_an_sso_only_account_signs_in_with_no_password(url):
    with session_scope(url) as session:
        accounts.add_user(session, "sso", None, role="viewer", actor="t")
    assert login(url, "sso", "") is None
    assert login(url, "sso", PASSWORD) is None


def test_a_disabled_account_cannot_sign_in_even_with_the_right_password(url):
    with session_scope(url) as session:
        accounts.disable_user(session, "anna", actor="admin")
    assert login(url) is None


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("elleve-tegn", "for kort"),
        ("iloveyou123456", "for almindelig"),
        ("1234567890123", "for almindelig"),
        ("asdfghjklzxcvbnm", "for almindelig"),
        ("monkeymonkeymonkey", "for almindelig"),
        ("Anna2027-kontoret", "brugernavnet"),
    ],
)
def test_a_weak_new_password_is_refused(url, password, why):
    with session_scope(url) as session, pytest.raises(PasswordRejected, match=why):
        accounts.reset_password(session, "anna", password, actor="t")


def test_a_long_uncommon_password_is_accepted():
    accounts.check_password("blå cykel under lygtepælen", "anna")


# --- throttling -------------------------------------------------------------------------------


def fail(url, times, *, username="anna", address="10.0.0.1", start=T0, step=timedelta(seconds=1)):
    for n in range(times):
        assert (
            login(url, username, "forkert-men-langt", address=address, at=start + n * step) is None
        )


def test_five_failures_are_free_then_each_one_doubles_the_wait(url):
    fail(url, 5)  # at T0 .. T0+4s
    last = T0 + timedelta(seconds=4)
    with pytest.raises(LoginThrottled) as first:
        login(url, at=last + timedelta(seconds=1))
    assert first.value.retry_after == 1  # 2 s after the newest failure
    assert "prøv igen om 1 sekunder" in str(first.value)
    assert login(url, "anna", "forkert-igen-langt", at=last + timedelta(seconds=2)) is None
    with pytest.raises(LoginThrottled) as second:
        login(url, at=last + timedelta(seconds=3))
    assert second.value.retry_after == 3  # now 4 s after the newest failure


def test_while_throttled_even_the_right_password_is_refused_and_not_recorded(url):
    fail(url, 5)
    with pytest.raises(LoginThrottled):
        login(url, at=T0 + timedelta(seconds=5))
    with session_scope(url) as session:
        assert len(session.exec(select(LoginAttempt)).all()) == 5


def test_the_wait_is_capped_at_fifteen_minutes(url):
    fail(url, 5, step=timedelta(seconds=0))
    for n in range(1, 14):  # each try waits out the previous wait
        wait = min(900, 2 * 2 ** (n - 1))
        at = T0 + timedelta(seconds=sum(min(900, 2 * 2 ** (k - 1)) for k in range(1, n)))
        with pytest.raises(LoginThrottled) as caught:
            login(url, at=at)
        assert caught.value.retry_after == wait
        if at + timedelta(seconds=wait) - T0 > timedelta(minutes=14):
            break
        assert login(url, "anna", "forkert-men-langt", at=at + timedelta(seconds=wait)) is None
    assert caught.value.retry_after <= 900


def test_a_success_resets_the_accounts_count(url):
    fail(url, 4)
    assert login(url, at=T0 + timedelta(seconds=10)) == "anna"
    fail(url, 4, start=T0 + timedelta(seconds=20))
    assert login(url, at=T0 + timedelta(seconds=30)) == "anna"


def test_failures_older_than_fifteen_minutes_no_longer_count(url):
    fail(url, 8, step=timedelta(seconds=10))
    with pytest.raises(LoginThrottled):
        login(url, at=T0 + timedelta(seconds=75))
    assert login(url, at=T0 + timedelta(minutes=16)) == "anna"


def test_one_address_guessing_many_accounts_is_throttled_for_all_of_them(url):
    for n in range(20):
        login(url, f"guess{n}", "forkert-men-langt", address="203.0.113.9", at=T0)
    with pytest.raises(LoginThrottled):
        login(url, "bo", PASSWORD + "!", address="203.0.113.9", at=T0 + timedelta(seconds=1))
    # another address is not held back, and the account itself has no failures
    assert (
        login(url, "bo", PASSWORD + "!", address="10.0.0.2", at=T0 + timedelta(seconds=1)) == "bo"
    )


def test_an_attacker_cannot_reset_the_address_count_by_signing_in_to_their_own_account(url):
    for n in range(19):
        login(url, f"guess{n}", "forkert-men-langt", address="203.0.113.9", at=T0)
    assert login(url, "bo", PASSWORD + "!", address="203.0.113.9", at=T0) == "bo"
    login(url, "guess-last", "forkert-men-langt", address="203.0.113.9", at=T0)
    with pytest.raises(LoginThrottled):
        login(url, "anna", address="203.0.113.9", at=T0 + timedelta(seconds=1))


def test_failures_for_one_account_from_many_addresses_throttle_the_account(url):
    for n in range(5):
        login(url, "anna", "forkert-men-langt", address=f"198.51.100.{n}", at=T0)
    with pytest.raises(LoginThrottled):
        login(url, "anna", address="10.9.9.9", at=T0 + timedelta(seconds=1))


# --- sessions ---------------------------------------------------------------------------------


def start(url, username="anna", at=T0):
    with session_scope(url) as session:
        user = accounts.get_user(session, username)
        token, _row = accounts.start_session(session, user, now=at, absolute=ABSOLUTE)
        return token


def resume(url, token, at):
    with session_scope(url) as session:
        found = accounts.resume_session(session, token, now=at, idle=IDLE)
        return found[0].username if found else None


def test_only_the_sha256_of_the_cookie_is_stored(url):
    token = start(url)
    assert len(token) >= 40
    with session_scope(url) as session:
        [row] = session.exec(select(WebSession)).all()
    assert row.token_hash == accounts.token_hash(token) != token
    assert token not in (row.csrf_token, row.token_hash)
    assert resume(url, token, T0) == "anna"
    assert resume(url, row.token_hash, T0) is None  # the stored value signs in no one


def test_each_session_gets_its_own_random_token_and_csrf_token(url):
    tokens = {start(url) for _ in range(5)}
    assert len(tokens) == 5
    with session_scope(url) as session:
        assert len({r.csrf_token for r in session.exec(select(WebSession)).all()}) == 5


def test_a_session_ends_after_the_idle_timeout(url):
    token = start(url)
    assert resume(url, token, T0 + timedelta(minutes=59)) == "anna"
    assert resume(url, token, T0 + timedelta(minutes=59 + 61)) is None
    assert resume(url, token, T0 + timedelta(minutes=59 + 62)) is None  # ended, not revived


def test_a_busy_session_still_ends_at_its_absolute_lifetime(url):
    token = start(url)
    at = T0
    while at < T0 + ABSOLUTE - timedelta(minutes=30):
        at += timedelta(minutes=30)
        assert resume(url, token, at) == "anna"
    assert resume(url, token, T0 + ABSOLUTE) is None


def test_sign_out_ends_the_session(url):
    token = start(url)
    with session_scope(url) as session:
        accounts.end_session(session, token)
        accounts.end_session(session, "not-a-token")  # no error
    assert resume(url, token, T0) is None


@pytest.mark.parametrize("action", ["disable", "reset"])
def test_disabling_or_a_new_password_ends_every_session_of_that_user_at_once(url, action):
    first, second, other = start(url), start(url), start(url, "bo")
    with session_scope(url) as session:
        if action == "disable":
            accounts.disable_user(session, "anna", actor="admin")
        else:
            accounts.reset_password(session, "anna", "et helt andet langt kodeord", actor="admin")
    assert resume(url, first, T0) is None
    assert resume(url, second, T0) is None
    assert resume(url, other, T0) == "bo"


def test_a_session_of_a_user_disabled_behind_its_back_is_refused(url):
    token = start(url)
    with session_scope(url) as session:
        user = accounts.get_user(session, "anna")
        user.disabled = True  # e.g. by another process, without ending the sessions
        session.add(user)
    assert resume(url, token, T0) is None


# --- users and the audit log ------------------------------------------------------------------


def test_account_actions_are_audited_with_the_actor_and_never_a_hash_or_password(url):
    token = start(url)  # a session alone is no sign-in: authenticate audits those
    assert login(url) == "anna"
    assert login(url, password="forkert-men-langt") is None  # in login_attempt, not the log
    with session_scope(url) as session:
        accounts.set_role(session, "anna", role="approver", organisation="politi", actor="admin")
        accounts.reset_password(session, "anna", "et helt andet langt kodeord", actor="admin")
        accounts.disable_user(session, "anna", actor="admin")
        accounts.enable_user(session, "anna", actor="admin")
        accounts.end_session(session, token)
        events = [(e.actor, e.action, e.detail) for e in session.exec(select(AuditEvent)).all()]
    assert [(a, b) for a, b, _ in events] == [
        ("t", "user:add"),
        ("t", "user:add"),
        ("anna", "login"),
        ("admin", "user:set-role"),
        ("admin", "user:reset-password"),
        ("admin", "user:disable"),
        ("admin", "user:enable"),
    ]
    for *_, detail in events:
        assert "argon2" not in (detail or "")
        assert "kodeord" not in (detail or "")
        assert PASSWORD not in (detail or "")


def test_bad_names_roles_and_organisations_are_refused(url):
    with session_scope(url) as session:
        with pytest.raises(AccountError, match="findes allerede"):
            accounts.add_user(session, "Anna", PASSWORD, role="viewer", actor="t")
        with pytest.raises(AccountError, match="Ukendt rolle"):
            accounts.add_user(session, "cy", PASSWORD, role="root", actor="t")
        with pytest.raises(AccountError, match="Brugernavnet"):
            accounts.add_user(session, "<script>", PASSWORD, role="viewer", actor="t")
        with pytest.raises(AccountError, match="Organisationen"):
            accounts.add_user(session, "cy", PASSWORD, role="viewer", organisation="A B", actor="t")
        with pytest.raises(AccountError, match="ingen bruger"):
            accounts.disable_user(session, "nobody", actor="t")


def test_users_are_listed_by_name(url):
    with session_scope(url) as session:
        accounts.add_user(session, "aase", PASSWORD + "?", role="viewer", actor="t")
        assert [u.username for u in accounts.list_users(session)] == ["aase", "anna", "bo"]


# --- single sign-on accounts ------------------------------------------------------------------


def signed_on(session: Session, subject: str, username: str, role: str, **claims: Any) -> User:
    """The account a single sign-on with these claims (no email or organisation unless given)
    creates or updates."""
    claims = {"email": None, "organisation": None, **claims}
    return accounts.upsert_oidc_user(
        session, subject=subject, username=username, role=role, **claims
    )


def test_an_sso_subject_gets_an_account_that_follows_its_claims(url):
    claims = {"email": "d@x.dk", "organisation": "region"}
    with session_scope(url) as session:
        user = signed_on(session, "sub-1", "dorte", "editor", **claims)
        assert (user.username, user.password_hash, user.role) == ("dorte", None, "editor")
    with session_scope(url) as session:
        again = signed_on(session, "sub-1", "dorte2", "approver", **claims)
        assert (again.id, again.username, again.role) == (user.id, "dorte", "approver")
        assert len(session.exec(select(User)).all()) == 3


def test_an_sso_login_cannot_take_over_a_password_account_by_its_name(url):
    with session_scope(url) as session, pytest.raises(AccountError, match="allerede i brug"):
        signed_on(session, "evil", "anna", "admin")
    assert login(url) == "anna"


def test_an_account_made_for_sso_without_a_password_is_linked_on_first_sign_in(url):
    with session_scope(url) as session:
        made = accounts.add_user(session, "eva", None, role="viewer", actor="admin")
    with session_scope(url) as session:
        linked = signed_on(session, "sub-eva", "eva", "editor")
    assert (linked.id, linked.oidc_subject, linked.role) == (made.id, "sub-eva", "editor")


def test_a_printed_user_or_session_shows_no_hash_or_token(url):
    token = start(url)
    with session_scope(url) as session:
        user = accounts.get_user(session, "anna")
        [row] = session.exec(select(WebSession)).all()
        shown = repr(user) + str(user) + repr(row) + str(row)
    assert "argon2" not in shown
    assert user.password_hash not in shown
    assert row.token_hash not in shown
    assert row.csrf_token not in shown
    assert token not in shown
    assert "anna" in shown
