"""Keeping connected channels connected: stored tokens handed to the adapters, refreshed before
they run out, and a channel paused (once, with a notice) when its refresh is refused for good.

**Exactly one refresher.** X rotates the refresh token on every use: a refresh token used twice
is refused, and a new one received but not saved is lost for good (the channel must be connected
again by a person). So a refresh is done holding the token row's lock, from reading the refresh
token to writing its successor: `SELECT … FOR UPDATE` on PostgreSQL, the database's write lock
(`BEGIN IMMEDIATE`) on SQLite. A second daemon that wants the same row waits, then reads the
winner's fresh token and uses it instead of refreshing again. This is the one place comms holds
a transaction across an HTTP call, on purpose: the alternative (a lease, the call outside any
transaction, a compare-and-set afterwards) loses the rotated pair whenever the write after the
call fails, and the call is bounded (5 s to connect, 20 s for the answer). The write itself is
also a compare-and-set on the row's `version`, so even without the lock a stale writer could
never overwrite a newer pair.

**When.** Before each use, a token whose remaining life is under a quarter of its life (at most
five minutes) is refreshed; the daemon's pass also refreshes every channel due before it
publishes, so a channel's posts do not wait on it. A 401 on a stored token refreshes once and
the call is tried once more (`refresh_rejected`), unless the service said the token was revoked
(comms/channels/token_answer.py): a refresh cannot help then, so the channel pauses at once.

**Tokens comms cannot renew** (no refresh token, or one past its own end, such as LinkedIn's
after about a year) are used until they run out, not paused five minutes early; the team is told
`token_warning_days` ahead (`reconnect_notices`), and the channel pauses when the token ends.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from comms.channels.oauth import RefreshRefused
from comms.channels.registry import create_channel
from comms.channels.scrub import Scrubber, remember_secrets
from comms.channels.settings import ChannelSettings
from comms.config import Settings
from comms.content.danish import format_datetime
from comms.errors import CommsError, TransientError
from comms.publishing.notify import PendingNotice, reconnect_notice
from comms.queue import transitions as queue
from comms.store import tokens
from comms.store.db import session_scope
from comms.store.models import ChannelState, utcnow
from comms.store.sealed import Sealer, sealer_from_env
from comms.store.tokens import StoredToken

log = logging.getLogger("comms.publishing.credentials")
MAX_MARGIN = timedelta(minutes=5)
# besides the access token: OAuth 1.0a's token secret, a Bluesky session's account
ABSENT_SECONDS = 10.0  # how soon a channel connected while a daemon runs is noticed
STORED_SECRETS = frozenset({"token_secret", "did"})


def can_refresh(token: StoredToken, now: datetime) -> bool:
    """Whether comms can renew the token itself: it has a refresh token that has not run out
    (LinkedIn's last about a year; the service says when)."""
    if not token.secrets.get("refresh_token"):
        return False
    ends = token.refresh_expires_at
    return ends is None or ends > now


def needs_refresh(token: StoredToken, now: datetime) -> bool:
    """True when the token's remaining life is under a quarter of its life (at most 5 min)
    and comms can refresh it; a token it cannot refresh is used until it runs out."""
    if token.expires_at is None or not can_refresh(token, now):
        return False
    born = token.refreshed_at or token.connected_at
    margin = min(MAX_MARGIN, max(timedelta(0), (token.expires_at - born) / 4))
    return token.expires_at - now <= margin


def reconnect_hint(channel: str) -> str:
    return f"forbind den igen: comms channels connect {channel}"


def expired_for_good(token: StoredToken, now: datetime) -> bool:
    """The token ran out and comms cannot renew it: only connecting again helps."""
    return token.expires_at is not None and token.expires_at <= now and not can_refresh(token, now)


def reconnect_deadline(token: StoredToken, now: datetime) -> tuple[datetime, str] | None:
    """When a person must connect the channel again at the latest, and what runs out then;
    None while comms can keep it connected on its own (or the token never runs out)."""
    ends = token.refresh_expires_at
    if can_refresh(token, now):
        return (ends, "fornyelsestokenet") if ends is not None else None
    if token.expires_at is not None:
        return token.expires_at, "adgangstokenet"
    return None


class StoredTokens:
    """The token store as the adapters' `TokenSource` (comms/channels/credentials.py)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.database_url
        self._sealer: Sealer | None = None
        self._handed = threading.local()  # the token last given to this thread, per channel
        # channels seen without a stored token, and when: asked again after ABSENT_SECONDS, so
        # a channel on its environment variable costs no database read on every call
        self._absent: dict[str, float] = {}

    @property
    def sealer(self) -> Sealer:
        if self._sealer is None:
            self._sealer = sealer_from_env()
        return self._sealer

    def channels(self) -> list[ChannelSettings]:
        """Every configured channel's settings, with this store as its token source."""
        return [channel.with_tokens(self) for channel in self.settings.channels.values()]

    def channel(self, name: str) -> ChannelSettings:
        return self.settings.channel(name).with_tokens(self)

    # --- TokenSource ----------------------------------------------------------------------

    def access_token(self, channel: str) -> str | None:
        token = self._current(channel)
        if token is None:
            return None
        now = utcnow()
        if expired_for_good(token, now):
            self._ran_out(channel, token)
        if needs_refresh(token, now):
            token = self._refresh(channel, rejected=None) or token
        self._hand(channel, token.access_token)
        return token.access_token or None

    def secret(self, channel: str, name: str) -> str | None:
        if name not in STORED_SECRETS:
            return None  # a client secret is the config's, never the store's
        token = self._current(channel)
        value = token.secrets.get(name) if token is not None else None
        return str(value) if isinstance(value, str) and value else None

    def refresh_rejected(self, channel: str, *, revoked: str | None = None) -> bool:
        rejected = self._handed.__dict__.get(channel)
        if not rejected or self._current(channel) is None:
            return False
        if revoked is not None:
            return self._revoked(channel, rejected, revoked)
        fresh = self._refresh(channel, rejected=rejected)
        return fresh is not None and fresh.access_token != rejected

    def secrets(self, channel: str) -> list[str]:
        token = self._current(channel)
        return token.secret_values() if token is not None else []

    # --- the daemon's pass ------------------------------------------------------------------

    def refresh_due(self, channels: set[str]) -> set[str]:
        """Refresh every channel of `channels` whose stored token is about to run out; the
        channels that cannot publish now (refused: paused; no answer and expired: this pass)."""
        blocked: set[str] = set()
        for channel in sorted(channels):
            try:
                token = self._current(channel)
                if token is not None and expired_for_good(token, utcnow()):
                    self._ran_out(channel, token)
                if token is None or not needs_refresh(token, utcnow()):
                    continue
                self._refresh(channel, rejected=None)
            except RefreshRefused:
                blocked.add(channel)  # paused by _refresh, with its notice pending
            except CommsError as exc:
                log.warning("channel %s: its token could not be refreshed now: %s", channel, exc)
                current = self._current(channel)
                if current is None or (current.expires_at and current.expires_at <= utcnow()):
                    blocked.add(channel)
        return blocked

    def connected(self) -> set[str]:
        """The channels with a stored token."""
        with session_scope(self.url) as session:
            return {row.channel for row in tokens.rows(session)}

    def reconnect_notices(
        self, channels: set[str], *, now: datetime, horizon: timedelta
    ) -> list[PendingNotice]:
        """A notice for each channel whose stored token (or refresh token) runs out within
        `horizon` and cannot be renewed by comms: one per channel and deadline (the notice
        table keeps it to one however often this is asked)."""
        found = []
        for channel in sorted(channels):
            try:
                token = self._current(channel)
            except CommsError as exc:  # no key, or another key: the daemon says so elsewhere
                log.warning("channel %s: its stored token could not be read: %s", channel, exc)
                continue
            deadline = reconnect_deadline(token, now) if token is not None else None
            if deadline is None:
                continue
            ends, what = deadline
            if now < ends <= now + horizon:
                found.append(
                    reconnect_notice(channel, ends, what=what, now=now, zone=self.settings.zone)
                )
        return found

    # --- inside -----------------------------------------------------------------------------

    def _ran_out(self, channel: str, token: StoredToken) -> None:
        """Pause a channel whose token ran out for good (when it did, not before)."""
        assert token.expires_at is not None
        when = format_datetime(token.expires_at, self.settings.zone)
        self._give_up(
            channel,
            f"udløb {when}, og comms kan ikke forny det",
            what="dens gemte token er udløbet",
        )
        raise RefreshRefused(f"{channel}: its stored token ran out and cannot be renewed")

    def _hand(self, channel: str, value: str) -> None:
        self._handed.__dict__[channel] = value

    def _current(self, channel: str) -> StoredToken | None:
        seen = self._absent.get(channel)
        if seen is not None and time.monotonic() - seen < ABSENT_SECONDS:
            return None
        with session_scope(self.url) as session:
            if not tokens.has_token(session, channel):
                self._absent[channel] = time.monotonic()
                return None
            token = tokens.load(session, self.sealer, channel)
        self._absent.pop(channel, None)
        if token is not None:
            remember_secrets(token.secret_values())
        return token

    def _refresh(self, channel: str, *, rejected: str | None) -> StoredToken | None:
        """Refresh under the row's lock, unless the row shows another process already did."""
        adapter_settings = self.settings.channels.get(channel)
        if adapter_settings is None:
            return None
        try:
            with session_scope(self.url) as session:
                token = tokens.load(session, self.sealer, channel, for_update=True)
                if token is None:
                    return None
                now = utcnow()
                if rejected is not None and token.access_token != rejected:
                    return token  # refreshed meanwhile: the winner's token
                if rejected is None and not needs_refresh(token, now):
                    return token  # another daemon refreshed while this one waited for the lock
                adapter = create_channel(adapter_settings)
                grant = adapter.refresh_credentials(dict(token.secrets), now=now)
                remember_secrets(tokens.credential_values(grant.secrets))
                merged = {**token.secrets, **grant.secrets}
                if not tokens.replace(
                    session,
                    self.sealer,
                    token,
                    secrets=merged,
                    expires_at=grant.expires_at,
                    now=now,
                ):
                    raise TransientError(f"{channel}: the token row changed under its lock")
                log.info("channel %s: token refreshed (version %d)", channel, token.version + 1)
                return StoredToken(
                    channel=channel,
                    kind=token.kind,
                    secrets=merged,
                    expires_at=grant.expires_at,
                    refreshed_at=now,
                    connected_at=token.connected_at,
                    version=token.version + 1,
                )
        except RefreshRefused as exc:
            self._give_up(channel, str(exc))
            raise

    def _revoked(self, channel: str, rejected: str, reason: str) -> bool:
        """The service said the token is revoked: True when the row already holds another
        (a person connected it again, or another daemon refreshed it); else pause."""
        with session_scope(self.url) as session:
            token = tokens.load(session, self.sealer, channel)
        if token is not None and token.access_token != rejected:
            return True
        self._give_up(
            channel,
            reason,
            what="tjenesten afviste dens gemte token som tilbagekaldt eller ugyldigt",
        )
        raise RefreshRefused(f"{channel}: the service revoked its stored token", status=401)

    def _give_up(
        self,
        channel: str,
        reason: str,
        *,
        what: str = "fornyelsen af dens gemte token blev afvist",
    ) -> None:
        """Pause the channel (its notice is the paused channel's, sent once) and remember why."""
        message = Scrubber()(reason)
        log.error("channel %s: its stored token cannot be used: %s; paused", channel, message)
        with session_scope(self.url) as session:
            tokens.note_failure(session, channel, message)
            state = session.get(ChannelState, channel)
            if state is None or not state.paused:
                queue.pause_channel(
                    session, channel, f"{what} ({message}); " + reconnect_hint(channel)
                )
