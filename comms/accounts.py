"""Workspace accounts: users, sign-in with throttling, and server-side sessions.

Store-level functions on the caller's sqlmodel Session (the caller commits); every change to an
account is in the audit log with the actor. Nothing here logs or returns a password or a hash.

Sessions: the cookie holds an opaque random token (`secrets`); the database keeps only its sha256,
so a copy of the table signs in no one. A session ends at its absolute expiry, after `idle`
without a request, at sign-out, and at once when its user is disabled or given a new password.

Throttling counts failed sign-ins in the last 15 minutes, per account (since its last success)
and per address (successes do not reset it, so one valid account cannot launder guesses at
others). After the free failures each further one doubles the wait, up to 15 minutes.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from comms.access import Role
from comms.errors import CommsError
from comms.passwords import (
    PasswordRejected,
    burn_time,
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from comms.store import audit
from comms.store.models import LoginAttempt, User, UTCDateTime, WebSession, utcnow

__all__ = [
    "AccountError",
    "LoginThrottled",
    "MustWrite",
    "PasswordRejected",
    "add_user",
    "authenticate",
    "check_password",
    "disable_user",
    "enable_user",
    "end_session",
    "end_user_sessions",
    "get_user",
    "list_users",
    "reset_password",
    "resume_session",
    "set_role",
    "start_session",
    "throttle_wait",
    "upsert_oidc_user",
]

THROTTLE_WINDOW = timedelta(minutes=15)
FREE_FAILURES_PER_ACCOUNT = 5
FREE_FAILURES_PER_ADDRESS = 20  # an office behind one NAT address shares this
FIRST_WAIT_SECONDS = 2
MAX_WAIT_SECONDS = 15 * 60
OIDC_ACTOR = "oidc"

_USERNAME_RE = re.compile(r"^[a-z0-9æøå][a-z0-9æøå._@-]{0,99}$")
_ORGANISATION_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


class AccountError(CommsError):
    """An account action that cannot be done (unknown user, taken name, bad role)."""


class LoginThrottled(CommsError):
    """Too many failed sign-ins: try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"For mange forkerte forsøg på at logge ind; prøv igen om {retry_after} sekunder."
        )


# --- users ----------------------------------------------------------------------------------


def normalise_username(username: str) -> str:
    """Usernames compare without case or surrounding blanks."""
    return username.strip().casefold()


def add_user(
    session: Session,
    username: str,
    password: str | None,
    *,
    role: str,
    organisation: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    actor: str,
) -> User:
    """A new account; `password` None makes one that signs in only through single sign-on."""
    name = _valid_username(username)
    role_value = _valid_role(role)
    org = _valid_organisation(organisation)
    if get_user(session, name) is not None:
        raise AccountError(f"Brugeren {name} findes allerede.")
    if password is not None:
        check_password(password, name)
    now = utcnow()
    user = User(
        username=name,
        password_hash=hash_password(password) if password is not None else None,
        role=role_value,
        organisation=org,
        email=email or None,
        display_name=display_name or None,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user:add", detail=_describe(user))
    return user


def list_users(session: Session) -> list[User]:
    """Every account, by username."""
    return list(session.exec(select(User).order_by(User.username)).all())


def get_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == normalise_username(username))).first()


def set_role(
    session: Session, username: str, *, role: str, organisation: str | None, actor: str
) -> None:
    """Give an account another role and organisation (None: all organisations)."""
    user = existing_user(session, username)
    user.role = _valid_role(role)
    user.organisation = _valid_organisation(organisation)
    _save(session, user)
    audit.record(session, actor=actor, action="user:set-role", detail=_describe(user))


def disable_user(session: Session, username: str, *, actor: str) -> None:
    """The account can no longer sign in, and every session it has ends now."""
    user = existing_user(session, username)
    user.disabled = True
    _save(session, user)
    ended = end_user_sessions(session, user.id or 0)
    audit.record(
        session, actor=actor, action="user:disable", detail=f"{user.username} ({ended} sessioner)"
    )


def enable_user(session: Session, username: str, *, actor: str) -> None:
    """A disabled account may sign in again."""
    user = existing_user(session, username)
    user.disabled = False
    _save(session, user)
    audit.record(session, actor=actor, action="user:enable", detail=user.username)


def reset_password(session: Session, username: str, password: str, *, actor: str) -> None:
    """A new password for the account; every session it had ends now."""
    user = existing_user(session, username)
    check_password(password, user.username)
    user.password_hash = hash_password(password)
    _save(session, user)
    ended = end_user_sessions(session, user.id or 0)
    audit.record(
        session,
        actor=actor,
        action="user:reset-password",
        detail=f"{user.username} ({ended} sessioner)",
    )


def upsert_oidc_user(
    session: Session,
    *,
    subject: str,
    username: str,
    email: str | None,
    role: str,
    organisation: str | None,
) -> User:
    """The account of a single-sign-on subject, created or brought up to date from its claims.

    An existing local account is taken over only when it has no password (an admin made it for
    single sign-on): otherwise anyone who could pick a username at the provider could become it.
    A disabled account stays disabled; the caller refuses it.
    """
    role_value = _valid_role(role)
    org = _valid_organisation(organisation)
    user = session.exec(select(User).where(User.oidc_subject == subject)).first()
    now = utcnow()
    action = "user:oidc-update"
    if user is None:
        name = _valid_username(username)
        user = get_user(session, name)
        if user is not None and (user.password_hash is not None or user.oidc_subject):
            raise AccountError(
                f"Brugernavnet {name} er allerede i brug af en anden konto; "
                "en administrator må give SSO-kontoen et andet navn."
            )
        if user is None:
            user = User(username=name, role=role_value, created_at=now)
            action = "user:oidc-add"
        user.oidc_subject = subject
    changed = (user.role, user.organisation, user.email) != (role_value, org, email)
    user.role, user.organisation, user.email = role_value, org, email
    user.updated_at = now
    session.add(user)
    session.flush()
    if changed or action == "user:oidc-add":
        audit.record(session, actor=OIDC_ACTOR, action=action, detail=_describe(user))
    return user


def _save(session: Session, user: User) -> None:
    """Write a changed account now, stamped with the time of the change."""
    user.updated_at = utcnow()
    session.add(user)
    session.flush()


def existing_user(session: Session, username: str) -> User:
    """The account called `username`, or an AccountError saying there is none."""
    user = get_user(session, username)
    if user is None:
        raise AccountError(f"Der findes ingen bruger ved navn {normalise_username(username)}.")
    return user


def _valid_username(username: str) -> str:
    name = normalise_username(username)
    if not _USERNAME_RE.match(name):
        raise AccountError(
            f"Brugernavnet {username!r} kan ikke bruges: brug små bogstaver, tal, . _ @ eller -, "
            "højst 100 tegn."
        )
    return name


def _valid_role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise AccountError(f"Ukendt rolle {role!r}; vælg en af {roles}.") from None


def _valid_organisation(organisation: str | None) -> str | None:
    if organisation is None or organisation == "":
        return None
    if not _ORGANISATION_RE.match(organisation):
        raise AccountError(
            f"Organisationen {organisation!r} kan ikke bruges: små bogstaver, tal, - eller _."
        )
    return organisation


def _describe(user: User) -> str:
    """What the audit log says about an account: never its hash."""
    org = user.organisation or "alle"
    return f"{user.username} rolle={user.role} organisation={org}"


# --- signing in -----------------------------------------------------------------------------


def authenticate(
    session: Session, username: str, password: str, *, address: str, now: datetime | None = None
) -> User | None:
    """The user if the password is right and the account enabled, else None.

    Raises LoginThrottled, without checking the password, while the account or the address must
    wait. Every checked try is recorded; a right password whose hash has old parameters is
    hashed again.
    """
    now = now or utcnow()
    name = normalise_username(username)[:100]
    address = address[:100]
    wait = throttle_wait(session, username=name, address=address, now=now)
    if wait > 0:
        raise LoginThrottled(wait)
    user = session.exec(select(User).where(User.username == name)).first()
    if user is None:
        burn_time(password)
        ok = False
    else:
        ok = verify_password(user.password_hash, password) and not user.disabled
    session.add(LoginAttempt(username=name, address=address, at=now, succeeded=ok))
    if not ok or user is None:
        session.flush()
        return None
    if user.password_hash is not None and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    session.flush()
    audit.record(session, actor=user.username, action="login", detail=f"fra {address}", at=now)
    return user


def throttle_wait(session: Session, *, username: str, address: str, now: datetime) -> int:
    """Seconds until the next sign-in may be tried for this account and address (0: now)."""
    since = now - THROTTLE_WINDOW
    last_success = session.exec(
        select(_newest(col(LoginAttempt.at))).where(
            LoginAttempt.username == username, LoginAttempt.succeeded, LoginAttempt.at > since
        )
    ).one()
    account_since = max(since, last_success) if last_success else since
    account = _failures(session, col(LoginAttempt.username) == username, account_since)
    by_address = _failures(session, col(LoginAttempt.address) == address, since)
    return max(
        _wait(account, FREE_FAILURES_PER_ACCOUNT, now),
        _wait(by_address, FREE_FAILURES_PER_ADDRESS, now),
    )


def _newest(column: sa.SQLColumnExpression[datetime]) -> sa.ColumnElement[datetime]:
    """max() of a UTC column, still read back as an aware datetime (an aggregate loses the type)."""
    return sa.type_coerce(sa.func.max(column), UTCDateTime())


def _failures(
    session: Session, which: sa.ColumnElement[bool], since: datetime
) -> tuple[int, datetime | None]:
    """How many failed tries match `which` after `since`, and when the newest was."""
    count, newest = session.exec(
        select(sa.func.count(), _newest(col(LoginAttempt.at))).where(
            which, sa.not_(col(LoginAttempt.succeeded)), col(LoginAttempt.at) > since
        )
    ).one()
    return int(count), newest


def _wait(failures: tuple[int, datetime | None], free: int, now: datetime) -> int:
    count, newest = failures
    if count < free or newest is None:
        return 0
    wait = min(MAX_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2 ** (count - free))
    left = (newest + timedelta(seconds=wait) - now).total_seconds()
    return max(0, math.ceil(left))


# --- sessions -------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    """What the database keeps of a session cookie."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    session: Session, user: User, *, now: datetime | None = None, absolute: timedelta
) -> tuple[str, WebSession]:
    """A new session for `user`: the cookie value (shown once, never stored) and its row.

    A password sign-in is audited by `authenticate`; a single sign-on caller audits its own.
    """
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=token_hash(token),
        user_id=user.id or 0,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + absolute,
    )
    session.add(row)
    session.flush()
    return token, row


class MustWrite(Exception):
    """resume_session(write=False) found it has a change to write: call it again with write."""


def resume_session(
    session: Session,
    token: str,
    *,
    now: datetime | None = None,
    idle: timedelta,
    touch_every: timedelta = timedelta(0),
    write: bool = True,
) -> tuple[User, WebSession] | None:
    """The user and session behind a cookie, or None when it is unknown, ended or expired.

    A session found expired, idle too long or of a disabled user is ended on the spot. Its
    last-seen time is moved on when it is `touch_every` old or more (so a page shown every few
    seconds does not write each time; the idle limit is then exact to `touch_every`). With
    `write=False` nothing is written: when something would be, MustWrite is raised instead.
    """
    now = now or utcnow()
    if not token or len(token) > 200:
        return None
    found = _open_session(session, token)
    if found is None:
        return None
    row, user = found
    if user.disabled or now >= row.expires_at or now - row.last_seen_at > idle:
        if not write:
            raise MustWrite
        row.ended_at = now
        session.add(row)
        session.flush()
        return None
    if now - row.last_seen_at < touch_every:
        return user, row
    if not write:
        raise MustWrite
    row.last_seen_at = now
    session.add(row)
    session.flush()
    return user, row


def _open_session(session: Session, token: str) -> tuple[WebSession, User] | None:
    """The session behind a cookie, with its user, unless it has ended."""
    return session.exec(
        select(WebSession, User)
        .join(User, col(User.id) == col(WebSession.user_id))
        .where(col(WebSession.token_hash) == token_hash(token), col(WebSession.ended_at).is_(None))
    ).first()


def end_session(session: Session, token: str) -> None:
    """Sign out: the session behind this cookie ends now (an unknown cookie is no error)."""
    now = utcnow()
    found = _open_session(session, token)
    if found is None:
        return
    row, user = found
    row.ended_at = now
    session.add(row)
    session.flush()
    audit.record(session, actor=user.username, action="logout", at=now)


def end_user_sessions(session: Session, user_id: int) -> int:
    """End every open session of a user at once; returns how many there were."""
    return session.exec(
        sa.update(WebSession)
        .where(col(WebSession.user_id) == user_id, col(WebSession.ended_at).is_(None))
        .values(ended_at=utcnow())
    ).rowcount
