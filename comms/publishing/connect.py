"""Connecting a channel: the service's own authorisation flow, its result sealed into the store.

Shared by `comms channels connect` and the workspace, so both run the very same flow: `begin`
gives the address the person's browser goes to (with a fresh `state` and PKCE pair, kept by
the caller), `finish` checks what the redirect brought back and stores the tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from comms.channels.oauth import (
    Grant,
    OAuthApp,
    Pkce,
    authorize_url,
    new_pkce,
    new_state,
)
from comms.channels.oauth import same_state as _same_state
from comms.channels.oauth1 import OAuth1App, RequestToken, access_token, request_token, same_token
from comms.channels.registry import create_channel
from comms.channels.scrub import remember_secrets
from comms.config import Settings
from comms.content.danish import format_datetime
from comms.errors import ConfigError
from comms.queue import transitions as queue
from comms.store import tokens
from comms.store.db import session_scope
from comms.store.models import ChannelState, utcnow
from comms.store.sealed import sealer_from_env


@dataclass(frozen=True)
class PendingConnect:
    """One authorisation under way: what the redirect must match."""

    channel: str
    app: OAuthApp
    redirect_uri: str
    state: str
    pkce: Pkce | None
    url: str  # where the browser goes


@dataclass(frozen=True)
class Connected:
    channel: str
    expires_at_text: str
    resumed: bool
    refreshable: bool
    refresh_expires_at_text: str | None = None  # the refresh token runs out (LinkedIn)


def oauth_app_of(settings: Settings, name: str, redirect_uri: str) -> OAuthApp:
    channel = settings.channel(name)
    app = create_channel(channel).prepare_oauth(redirect_uri)
    if app is None:
        raise ConfigError(
            f"kanalen {name!r} ({channel.type}) har ingen OAuth-klient i konfigurationen",
            hint=f'tilføj client_id = "..." (og client_secret_env = "COMMS_...") i '
            f"[channels.{name}]; se docs/credentials.md",
        )
    return app


def begin(settings: Settings, name: str, *, redirect_uri: str) -> PendingConnect:
    """A new authorisation for channel `name`; refuses at once when no key is set, so a person
    does not say yes at the service only to have the tokens refused afterwards."""
    sealer_from_env()
    app = oauth_app_of(settings, name, redirect_uri)
    state, pkce = new_state(), (new_pkce() if app.pkce else None)
    url = authorize_url(app, redirect_uri=redirect_uri, state=state, pkce=pkce)
    return PendingConnect(name, app, redirect_uri, state, pkce, url)


def code_from(pending: PendingConnect, params: dict[str, str]) -> str:
    """The code of a redirect, after checking its state (a forged redirect is refused)."""
    if params.get("error"):
        raise ConfigError(
            f"tjenesten gav ikke adgang: {str(params.get('error'))[:100]}",
            hint="kør kommandoen igen, og giv adgang",
        )
    if not _same_state(pending.state, params.get("state")):
        raise ConfigError(
            "adressens state passer ikke til denne godkendelse: afvist, intet er gemt",
            hint="kør kommandoen igen, og brug den adresse, den skriver, én gang",
        )
    code = params.get("code")
    if not code:
        raise ConfigError("adressen havde ingen kode", hint="kør kommandoen igen")
    return code


def params_of_pasted(text: str) -> dict[str, str]:
    """What a person pasted: the whole address the browser ended on (checked like a redirect),
    or the bare code (only the person's word, so it is used as the state too)."""
    text = text.strip()
    if _is_address(text):
        query = urlsplit(text[:8192]).query
        return {k: v[0] for k, v in parse_qs(query).items() if v}
    return {"code": text[:2048]}


def params_of_paste(pending: PendingConnect | PendingOAuth1, text: str) -> dict[str, str]:
    """The redirect's parameters from what was pasted. A whole address must carry its own
    `state` (or oauth_token), checked like a redirect's; only a bare code, which has none, is
    taken on the person's word for this authorisation."""
    params = params_of_pasted(text)
    if _is_address(text.strip()):
        return params
    if isinstance(pending, PendingOAuth1):
        return {"oauth_token": pending.request.token, "oauth_verifier": params["code"]}
    return {**params, "state": pending.state}


def _is_address(text: str) -> bool:
    return "?" in text or text.startswith("http")


@dataclass(frozen=True)
class PendingOAuth1:
    """An OAuth 1.0a authorisation under way (X): its request token is what the redirect
    must bring back."""

    channel: str
    app: OAuth1App
    request: RequestToken

    @property
    def url(self) -> str:
        return self.request.url


def begin_oauth1(settings: Settings, name: str, *, redirect_uri: str) -> PendingOAuth1:
    sealer_from_env()
    adapter = create_channel(settings.channel(name))
    oauth1_app = getattr(adapter, "oauth1_app", None)
    app = oauth1_app() if oauth1_app is not None else None
    if app is None:
        raise ConfigError(
            f"kanalen {name!r} har ingen OAuth 1.0a-app i konfigurationen",
            hint=f'tilføj api_key_env = "COMMS_..." og api_secret_env = "COMMS_..." i '
            f"[channels.{name}]; se docs/credentials.md",
        )
    remember_secrets([app.consumer_key, app.consumer_secret])
    request = request_token(app, callback=redirect_uri)
    remember_secrets([request.secret])
    return PendingOAuth1(name, app, request)


def finish_oauth1(
    settings: Settings, pending: PendingOAuth1, params: dict[str, str], *, actor: str
) -> Connected:
    """The redirect's verifier for the lasting user token (after checking its oauth_token)."""
    if params.get("denied"):
        raise ConfigError("X gav ikke adgang", hint="kør kommandoen igen, og giv adgang")
    if not same_token(pending.request.token, params.get("oauth_token")):
        raise ConfigError(
            "adressens oauth_token hører ikke til denne godkendelse: afvist, intet er gemt",
            hint="kør kommandoen igen, og brug den adresse, den skriver, én gang",
        )
    verifier = params.get("oauth_verifier")
    if not verifier:
        raise ConfigError("adressen havde ingen oauth_verifier", hint="kør kommandoen igen")
    found = access_token(pending.app, pending.request, verifier=verifier)
    return _store(settings, pending.channel, "oauth1", Grant(found, None), actor=actor)


def connect_with_password(settings: Settings, name: str, password: str, *, actor: str) -> Connected:
    """Trade an app password for a session once (Bluesky) and store the session sealed."""
    sealer_from_env()
    adapter = create_channel(settings.channel(name))
    open_session = getattr(adapter, "open_session", None)
    if adapter.connects_with != "password" or open_session is None:
        raise ConfigError(f"kanalen {name!r} forbindes ikke med en adgangskode")
    grant = open_session(password, now=utcnow())
    return _store(settings, name, "session", grant, actor=actor)


def finish(settings: Settings, pending: PendingConnect, code: str, *, actor: str) -> Connected:
    """Trade the code for tokens and store them sealed; resume the channel if it was paused
    for its credentials (connecting is what its notice asked for)."""
    sealer_from_env()
    now = utcnow()
    adapter = create_channel(settings.channel(pending.channel))
    grant = adapter.finish_oauth(
        pending.app, code=code, redirect_uri=pending.redirect_uri, pkce=pending.pkce, now=now
    )
    return _store(settings, pending.channel, "oauth2", grant, actor=actor)


def _store(settings: Settings, name: str, kind: str, grant: Grant, *, actor: str) -> Connected:
    sealer = sealer_from_env()
    remember_secrets(tokens.credential_values(grant.secrets))
    resumed = False
    with session_scope(settings.database_url) as session:
        tokens.save(
            session,
            sealer,
            name,
            kind=kind,
            secrets=grant.secrets,
            expires_at=grant.expires_at,
            actor=actor,
        )
        state = session.get(ChannelState, name)
        if state is not None and state.paused:
            queue.resume_channel(session, name, actor=actor)
            resumed = True
    expiry = format_datetime(grant.expires_at, settings.zone) if grant.expires_at else "aldrig"
    refresh_ends = tokens.refresh_expiry(grant.secrets)
    return Connected(
        name,
        expiry,
        resumed,
        bool(grant.secrets.get("refresh_token")),
        format_datetime(refresh_ends, settings.zone) if refresh_ends else None,
    )
