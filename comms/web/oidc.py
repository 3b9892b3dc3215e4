"""Single sign-on with OpenID Connect ([web.oidc], e.g. Entra ID): /login/oidc and its callback.

The authorization code flow with PKCE (S256), through authlib's client. The state, nonce and
code verifier of a sign-in that has begun stay on the server (in the database, so any workspace
process may receive the callback), keyed by a random id in a short-lived HttpOnly cookie, and
are used once. The callback exchanges the code, checks the ID token (signature against the
provider's JWKS, issuer, audience = our client id, nonce, expiry), maps its roles and
organisation claims to a comms role (`role_map`), then creates or updates the account
(comms.accounts.upsert_oidc_user) and starts the same server-side session as a password sign-in.
Whatever is refused gets a Danish page that shows no token, secret or exception text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, KeySetSerialization
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from comms.access import Role
from comms.config import OidcSettings, Settings
from comms.errors import CommsError
from comms.store import pending as store
from comms.store.db import session_scope
from comms.store.models import utcnow
from comms.store.sealed import Sealer
from comms.web.auth import safe_next, secure_cookie, signed_in, start_session
from comms.web.context import Refused

log = logging.getLogger("comms.web.oidc")

PENDING_COOKIE = "comms_oidc"
PENDING_SECONDS = 600  # a sign-in at the provider must come back within ten minutes
MAX_PENDING = 10_000  # begun sign-ins kept at most (the oldest go first)
CALLBACK_PATH = "/login/oidc/callback"
HTTP_TIMEOUT = 10.0
CLOCK_LEEWAY = 60  # seconds of clock difference allowed for exp/iat
# Asymmetric signatures only: never "none", never HS* (our client secret is no signing key here).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2, Role.ADMIN: 3}

FAILED = "Log ind med single sign-on mislykkedes. Prøv igen fra log ind-siden."
EXPIRED = "Log ind-forsøget er udløbet eller allerede brugt. Start forfra fra log ind-siden."
UNREACHABLE = "Identitetsudbyderen svarer ikke lige nu. Prøv igen om lidt."


class SignOnRefused(CommsError):
    """A sign-in the provider or its ID token did not bear out; the message is for the user."""


@dataclass(frozen=True)
class Identity:
    """Who the ID token says signed in, as comms will know them."""

    subject: str
    username: str
    email: str | None
    role: Role
    organisation: str | None


# --- claims to a comms account ----------------------------------------------------------------


def claim_values(value: object) -> list[str]:
    """A claim that holds one name or a list of names, as a list of strings."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str) and item.strip()]
    return []


def pick_role(values: Iterable[str], role_map: Mapping[str, str]) -> Role | None:
    """The highest comms role the provider's role names map to, or None.

    With an empty `role_map` the provider must send comms' own role names (viewer, editor,
    approver, admin); with a map only its names count, so a provider's stray "admin" group
    gives nothing.
    """
    known = {role.value: role.value for role in Role}
    mapping = role_map or known
    found = [Role(mapping[value]) for value in values if value in mapping]
    return max(found, key=ROLE_RANK.__getitem__, default=None)


def map_claims(claims: Mapping[str, Any], oidc: OidcSettings) -> Identity:
    """The account an ID token's claims describe; refused (in Danish) when they give no role."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise SignOnRefused("Identitetsudbyderen sendte ingen brugeridentitet (sub).")
    roles = claim_values(claims.get(oidc.roles_claim))
    role = pick_role(roles, oidc.role_map)
    if role is None:
        raise SignOnRefused(
            "Din konto hos identitetsudbyderen har ingen rolle i comms. Bed en administrator "
            "om at give dig en af rollerne læser, redaktør, godkender eller administrator."
        )
    organisation = _organisation(claims.get(oidc.organisation_claim), role)
    email = claims.get("email")
    email = email.strip() if isinstance(email, str) and email.strip() else None
    username = _username(claims, oidc.username_claim, email, subject)
    return Identity(subject, username, email, role, organisation)


def _organisation(value: object, role: Role) -> str | None:
    """The organisation claim in comms' form; only an admin may come without one."""
    names = claim_values(value)
    if len(names) > 1:
        raise SignOnRefused(
            "Din konto hos identitetsudbyderen har flere organisationer; comms kræver én."
        )
    if names:
        return names[0].strip().lower()
    if role is Role.ADMIN:
        return None
    # No organisation would mean every organisation (see comms.access): refuse instead.
    raise SignOnRefused(
        "Din konto hos identitetsudbyderen har ingen organisation. Bed en administrator om at "
        "tilføje den, før du kan logge ind."
    )


def _username(claims: Mapping[str, Any], claim: str, email: str | None, subject: str) -> str:
    for candidate in (claims.get(claim), email, subject):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip().lower()[:100]
    return subject[:100]


# --- the provider -------------------------------------------------------------------------------


class ProviderInfo:
    """The provider's discovery document and signing keys, fetched on first use and cached."""

    def __init__(self, oidc: OidcSettings) -> None:
        self.oidc = oidc
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def metadata(self) -> dict[str, Any]:
        """`{issuer}/.well-known/openid-configuration`, checked to name the configured issuer."""
        with self._lock:
            if self._metadata is None:
                url = self.oidc.issuer + "/.well-known/openid-configuration"
                data = _get_json(url)
                self._metadata = check_metadata(data, self.oidc.issuer)
            return self._metadata

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's public keys (JWKS); fetched again when a token names an unknown key."""
        uri = self.metadata()["jwks_uri"]
        with self._lock:
            if self._keys is None or refresh:
                # the provider's JSON, read as a key set (import_key_set reads its "keys")
                self._keys = KeySet.import_key_set(cast(KeySetSerialization, _get_json(uri)))
            return self._keys


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("OIDC provider: %s failed: %s", url, type(exc).__name__)
        raise SignOnRefused(UNREACHABLE) from None
    if not isinstance(data, dict):
        raise SignOnRefused(UNREACHABLE)
    return data


def check_metadata(data: dict[str, Any], issuer: str) -> dict[str, Any]:
    """The discovery document, if it is for `issuer` and has what the code flow needs."""
    if str(data.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        log.error("OIDC discovery names issuer %r, configured %r", data.get("issuer"), issuer)
        raise SignOnRefused(FAILED)
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        endpoint = data.get(key)
        if not isinstance(endpoint, str) or not _same_security(endpoint, issuer):
            log.error("OIDC discovery: %s missing or not https", key)
            raise SignOnRefused(FAILED)
    methods = data.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        log.error("OIDC provider does not offer PKCE S256")
        raise SignOnRefused(FAILED)
    return data


def _same_security(url: str, issuer: str) -> bool:
    """An endpoint is https, or plain http only when the issuer itself is (localhost, dev)."""
    return url.startswith("https://") or (
        issuer.startswith("http://") and url.startswith("http://")
    )


def verify_id_token(
    id_token: str,
    *,
    keys: KeySet,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None = None,
    algorithms: Iterable[str] = ALGORITHMS,
    now: int | None = None,
) -> dict[str, Any]:
    """The claims of an ID token whose signature, issuer, audience, nonce and times hold.

    Raises InvalidKeyIdError when the token names a key not in `keys` (the caller fetches the
    JWKS again) and SignOnRefused for everything else.
    """
    allowed = [alg for alg in algorithms if alg in ALGORITHMS]
    try:
        token = jwt.decode(id_token, keys, algorithms=allowed)
    except InvalidKeyIdError:
        raise
    except (JoseError, ValueError) as exc:
        log.warning("OIDC ID token refused: %s", type(exc).__name__)
        raise SignOnRefused(FAILED) from None
    options = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "exp": {"essential": True},
        "nonce": {"essential": True, "value": nonce},
    }
    params = {"nonce": nonce, "client_id": client_id}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(token.claims, token.header, options, params)
    try:
        claims.validate(now=now, leeway=CLOCK_LEEWAY)
    except (JoseError, ValueError) as exc:
        log.warning("OIDC ID token refused: %s", type(exc).__name__)
        raise SignOnRefused(FAILED) from None
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise SignOnRefused(FAILED)  # checked above already; kept explicit for the reader
    return dict(claims)


# --- sign-ins under way -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A sign-in sent to the provider: what its return must match, kept only on the server."""

    state: str
    nonce: str
    verifier: str
    next: str
    redirect_uri: str


class PendingSignIns:
    """Begun sign-ins by cookie id, in the database (comms.store.pending): each is taken once,
    by whichever workspace process the provider's redirect reaches, and none outlives
    PENDING_SECONDS.

    Single sign-on works without COMMS_SECRET_KEY (that key is for channels' tokens), so the
    row is sealed with a key derived from the cookie's random id instead: the browser holds the
    id, the table holds a hash of it and the ciphertext. Neither alone gives the verifier or
    nonce, and the cookie alone is no use without the row, which the first callback deletes.
    """

    KIND = "oidc"

    def __init__(
        self, database_url: str, lifetime: float = PENDING_SECONDS, limit: int = MAX_PENDING
    ) -> None:
        self.database_url = database_url
        self.lifetime = lifetime
        self.limit = limit

    def put(self, pending: Pending) -> str:
        """Remember `pending`; the cookie value that takes it back."""
        key = secrets.token_urlsafe(32)
        with session_scope(self.database_url) as db:
            store.put(
                db,
                _cookie_sealer(key),
                kind=self.KIND,
                key=key,
                payload=json.dumps(asdict(pending)),
                lifetime=self.lifetime,
                limit=self.limit,
            )
        return key

    def take(self, key: str | None, *, now: datetime | None = None) -> Pending | None:
        """The sign-in behind `key`, removed so it can never be used again; None if unknown
        or out of time."""
        if not key:
            return None
        with session_scope(self.database_url) as db:
            taken = store.take(db, _cookie_sealer(key), kind=self.KIND, key=key, now=now)
        if taken is None:
            return None
        try:
            return Pending(**json.loads(taken.payload))
        except (TypeError, ValueError):
            return None


def _cookie_sealer(key: str) -> Sealer:
    """The sealer for one sign-in's row: its key is a hash of the cookie's id, under another
    label than the row's id (comms.store.pending.row_id), so the id does not give the key."""
    derived = hashlib.sha256(b"comms-oidc-pending-seal:" + key.encode()).digest()
    return Sealer(base64.urlsafe_b64encode(derived).decode())


# --- the two pages ------------------------------------------------------------------------------


class OidcLogin:
    """/login/oidc sends the browser to the provider; the callback signs the user in."""

    def __init__(self, settings: Settings, oidc: OidcSettings) -> None:
        self.settings = settings
        self.oidc = oidc
        self.provider = ProviderInfo(oidc)
        self.pending = PendingSignIns(settings.database_url)

    def client(self, redirect_uri: str) -> OAuth2Session:
        metadata = self.provider.metadata()
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        secret = self.oidc.client_secret()
        if secret is None:
            method = "none"
        elif "client_secret_basic" in methods:
            method = "client_secret_basic"
        else:
            method = "client_secret_post"
        return OAuth2Session(
            client_id=self.oidc.client_id,
            client_secret=secret,
            scope=" ".join(self.oidc.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=method,
            default_timeout=HTTP_TIMEOUT,
        )

    def redirect_uri(self, request: Request) -> str:
        """Where the provider sends the browser back: base_url when set, else this host."""
        base = self.settings.web.base_url
        if base:
            return base + CALLBACK_PATH
        return str(request.url.replace(path=CALLBACK_PATH, query="", fragment=""))

    def begin(self, request: Request) -> Response:
        """Remember a new state, nonce and verifier; send the browser to the provider."""
        redirect_uri = self.redirect_uri(request)
        try:
            client = self.client(redirect_uri)
            endpoint = self.provider.metadata()["authorization_endpoint"]
        except SignOnRefused as exc:
            raise Refused(503, str(exc)) from None
        except CommsError as exc:  # e.g. the secret's environment variable is not set
            log.error("OIDC is not set up: %s", exc)
            message = "Single sign-on er ikke sat rigtigt op. Kontakt en administrator."
            raise Refused(503, message) from None
        pending = Pending(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            next=safe_next(request.query_params.get("next")),
            redirect_uri=redirect_uri,
        )
        url, _ = client.create_authorization_url(
            endpoint, state=pending.state, nonce=pending.nonce, code_verifier=pending.verifier
        )
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            PENDING_COOKIE,
            self.pending.put(pending),
            max_age=PENDING_SECONDS,
            path="/login/oidc",
            httponly=True,
            samesite="lax",  # the provider's redirect back is a cross-site top-level GET
            secure=secure_cookie(request, self.settings),
        )
        return response

    def finish(self, request: Request) -> Response:
        """Check the provider's answer and the ID token; sign the user in, or refuse."""
        pending = self.pending.take(request.cookies.get(PENDING_COOKIE))
        if pending is None:
            raise Refused(400, EXPIRED)
        params = request.query_params
        if not secrets.compare_digest(params.get("state", ""), pending.state):
            raise Refused(400, EXPIRED)
        if "iss" in params and params["iss"].rstrip("/") != self.oidc.issuer:
            raise Refused(400, FAILED)  # RFC 9207: an answer from another provider (mix-up)
        error = params.get("error")
        if error:
            log.info("OIDC provider answered %s", error[:60])
            raise Refused(403, "Identitetsudbyderen afviste log ind. Prøv igen.")
        code = params.get("code")
        if not code:
            raise Refused(400, FAILED)
        try:
            claims = self.exchange(code, pending)
            identity = map_claims(claims, self.oidc)
        except SignOnRefused as exc:
            raise Refused(403, str(exc)) from None
        return self.sign_in(request, identity, pending.next)

    def exchange(self, code: str, pending: Pending) -> dict[str, Any]:
        """The code for tokens (with the PKCE verifier), and the ID token's checked claims."""
        client = self.client(pending.redirect_uri)
        metadata = self.provider.metadata()
        try:
            token = client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.verifier,
                redirect_uri=pending.redirect_uri,
            )
        except (AuthlibBaseError, requests.RequestException, ValueError) as exc:
            log.warning("OIDC token exchange failed: %s", _reason(exc))
            raise SignOnRefused(FAILED) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignOnRefused(FAILED)
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        check: dict[str, Any] = {
            "issuer": self.oidc.issuer,
            "client_id": self.oidc.client_id,
            "nonce": pending.nonce,
            "access_token": token.get("access_token"),
            "algorithms": algorithms,
        }
        try:
            return verify_id_token(id_token, keys=self.provider.keys(), **check)
        except InvalidKeyIdError:
            try:
                return verify_id_token(id_token, keys=self.provider.keys(refresh=True), **check)
            except InvalidKeyIdError:
                raise SignOnRefused(FAILED) from None

    def sign_in(self, request: Request, identity: Identity, target: str) -> Response:
        """Create or update the account from the token; start a session as /login does."""
        from comms import accounts
        from comms.store import audit

        settings = self.settings
        with session_scope(settings.database_url) as db:
            try:
                user = accounts.upsert_oidc_user(
                    db,
                    subject=f"{self.oidc.issuer}#{identity.subject}",
                    username=identity.username,
                    email=identity.email,
                    role=identity.role.value,
                    organisation=identity.organisation,
                )
            except CommsError as exc:
                raise Refused(403, str(exc)) from None
            if user.disabled:
                raise Refused(403, "Din konto i comms er spærret. Kontakt en administrator.")
            now: datetime = utcnow()
            token = start_session(db, user, settings, now)
            address = request.client.host if request.client else "?"
            audit.record(db, actor=user.username, action="login", detail=f"sso fra {address}")
        return signed_in(request, settings, token, target, spent=(PENDING_COOKIE, "/login/oidc"))


def _reason(exc: BaseException) -> str:
    """An error's kind for the log: the OAuth error code, never a token or secret."""
    return str(getattr(exc, "error", None) or type(exc).__name__)[:60]


def routes(settings: Settings) -> list[Route]:
    """The single sign-on routes for the app, or none when [web.oidc] is not configured."""
    oidc = settings.web.oidc
    if oidc is None:
        return []
    login = OidcLogin(settings, oidc)

    async def begin(request: Request) -> Response:
        return await run_in_threadpool(login.begin, request)

    async def callback(request: Request) -> Response:
        return await run_in_threadpool(login.finish, request)

    return [
        Route("/login/oidc", begin, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]
