"""A fake Mastodon instance that enforces what a stock instance enforces.

Bearer token (401 `{"error": "The access token is invalid"}`), the status text limit with every
URL counting 23, blank text, the alt-text (description) limit, media that is still processing
(202, then 206 on `GET /api/v1/media/:id`, and 422 if a status names it too early), and the
`Idempotency-Key` header: the same key from the same account returns the status already made.
It sends `X-RateLimit-*` headers and can answer 429 with an ISO `X-RateLimit-Reset`.
"""

from __future__ import annotations

import html
import itertools
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.oauth import OAuth2Provider
from tests.fakes.server import FakeServer, Request, Response

URL = re.compile(r"https?://\S+")


def status_length(text: str, url_length: int = 23) -> int:
    """Characters as Mastodon counts them: code points, every URL as `url_length`."""
    return len(URL.sub("x" * url_length, text))


class FakeMastodon(FakeServer):
    """Statuses and media of one account; `statuses` keeps what was posted, by id."""

    def __init__(self, token: str = "fake-mastodon-token", *, max_characters: int = 500) -> None:
        super().__init__()
        self.token = token
        self.max_characters = max_characters
        self.account = {"id": "109", "username": "trygaalborg", "acct": "trygaalborg"}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}  # Idempotency-Key -> status id
        self.processing_polls = 0  # 206 answers each new upload gives before it is ready
        self.throttle = 0  # the next N requests get 429
        self.reset_in = 90.0  # seconds until the rate limit resets (X-RateLimit-Reset)
        self._ids = itertools.count(110_000_000_000_000_001)
        self._key_lock = threading.Lock()
        self.route("POST", "/api/v1/statuses", self.create_status)
        self.route("GET", r"/api/v1/statuses/(?P<id>\d+)", self.get_status)
        self.route("POST", "/api/v2/media", self.upload_media)
        self.route("GET", r"/api/v1/media/(?P<id>\d+)", self.get_media)
        self.route("GET", "/api/v1/accounts/verify_credentials", self.verify_credentials)
        self.route("GET", r"/api/v1/accounts/(?P<id>\d+)/statuses", self.account_statuses)
        self.route("GET", "/api/v2/instance", self.instance)
        # an instance registers any app (POST /api/v1/apps) and is its authorisation server
        self.oauth = OAuth2Provider(
            client_id="",
            client_secret=None,
            access_life=None,
            authorize_path="/oauth/authorize",
            token_path="/oauth/token",
        )
        self.oauth.install(self)
        self.apps: list[dict[str, Any]] = []
        self.route("POST", "/api/v1/apps", self.register_app)

    def reset(self) -> None:
        """Forget everything posted and every pending fault (one server serves many tests)."""
        super().reset()
        self.statuses.clear()
        self.media.clear()
        self.keys.clear()
        self.processing_polls = self.throttle = 0
        self.reset_in = 90.0

    # -- auth and rate limits ---------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        if self.throttle > 0:
            self.throttle -= 1
            reset = datetime.now(UTC) + timedelta(seconds=self.reset_in)
            return Response(
                429,
                {"error": "Too many requests"},
                {
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset.isoformat(timespec="microseconds").replace(
                        "+00:00", "Z"
                    ),
                },
            )
        if request.path in ("/api/v1/apps", self.oauth.authorize_path, self.oauth.token_path):
            return None  # open to any client, or checked by the authorisation server
        header = request.header("authorization") or ""
        if header == f"Bearer {self.token}":
            return None
        state = self.oauth.access_state(header[7:]) if header.startswith("Bearer ") else ""
        if state == "ok":
            return None
        if state == "expired":  # an instance that gives tokens a life (Mastodon 4.3+)
            return _bearer_error("The access token expired")
        if state == "revoked":
            return _bearer_error("The access token was revoked")
        return self.expired_response()

    def register_app(self, request: Request) -> Response:
        """Mastodon's app registration: client credentials for one redirect address."""
        fields = {k: v[0] for k, v in _fields(request).items() if v}
        if not fields.get("client_name") or not fields.get("redirect_uris"):
            return Response(422, {"error": "Validation failed: client_name, redirect_uris"})
        app = {
            "id": str(len(self.apps) + 1),
            "name": fields["client_name"],
            "redirect_uri": fields["redirect_uris"],
            "client_id": f"mastodon-client-{len(self.apps) + 1}",
            "client_secret": f"mastodon-secret-SECMARK-{len(self.apps) + 1}",
            "scopes": fields.get("scopes", "read").split(),
        }
        self.apps.append(app)
        self.oauth.client_id, self.oauth.client_secret = app["client_id"], app["client_secret"]
        return Response(200, app)

    def expired_response(self) -> Response:
        return _bearer_error("The access token is invalid")

    # -- statuses ---------------------------------------------------------------------------

    def create_status(self, request: Request) -> Response:
        fields = _fields(request)
        key = request.header("idempotency-key")
        with self._key_lock:  # Mastodon takes a Redis lock per key
            if key and key in self.keys:
                return Response(200, self.statuses[self.keys[key]])
            text = (fields.get("status") or [""])[0]
            media_ids = fields.get("media_ids[]") or fields.get("media_ids") or []
            if not text.strip() and not media_ids:
                return _invalid("Validation failed: Text can't be blank")
            if status_length(text) > self.max_characters:
                return _invalid(
                    f"Validation failed: Text character limit of {self.max_characters} exceeded"
                )
            attachments = []
            for media_id in media_ids:
                media = self.media.get(media_id)
                if media is None:
                    return _invalid("Validation failed: media not found")
                if media["polls_left"] > 0 or media["url"] is None:
                    return _invalid(
                        "Cannot attach files that have not finished processing. "
                        "Try again in a moment!"
                    )
                attachments.append(_public(media))
            status_id = str(next(self._ids))
            status = {
                "id": status_id,
                "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "url": f"{self.url}/@{self.account['username']}/{status_id}",
                "uri": f"{self.url}/users/{self.account['username']}/statuses/{status_id}",
                "content": _content(text),
                "text": text,  # not in the real API; kept for tests
                "visibility": (fields.get("visibility") or ["public"])[0],
                "language": (fields.get("language") or [None])[0],
                "replies_count": 0,
                "reblogs_count": 0,
                "favourites_count": 0,
                "media_attachments": attachments,
                "idempotency_key": key,  # not in the real API; kept for tests
            }
            self.statuses[status_id] = status
            if key:
                self.keys[key] = status_id
        return Response(200, status)

    def get_status(self, request: Request) -> Response:
        status = self.statuses.get(request.match["id"]) if request.match else None
        if status is None:
            return Response(404, {"error": "Record not found"})
        return Response(200, status)

    def account_statuses(self, request: Request) -> Response:
        limit = int((request.query.get("limit") or ["20"])[0])
        newest = sorted(self.statuses.values(), key=lambda s: int(s["id"]), reverse=True)
        return Response(200, newest[:limit])

    # -- media ------------------------------------------------------------------------------

    def upload_media(self, request: Request) -> Response:
        parts = request.multipart()
        if "file" not in parts or not parts["file"][1]:
            return _invalid("Validation failed: File can't be blank")
        description = parts.get("description", (None, b""))[1].decode("utf-8")
        if len(description) > 1500:
            return _invalid(
                "Validation failed: Description is too long (maximum is 1500 characters)"
            )
        media_id = str(next(self._ids))
        ready = self.processing_polls == 0
        media = {
            "id": media_id,
            "type": "image",
            "url": f"{self.url}/media/{media_id}.png" if ready else None,
            "description": description,
            "filename": parts["file"][0],
            "bytes": parts["file"][1],
            "polls_left": self.processing_polls,
        }
        self.media[media_id] = media
        return Response(200 if ready else 202, _public(media))

    def get_media(self, request: Request) -> Response:
        media = self.media.get(request.match["id"]) if request.match else None
        if media is None:
            return Response(404, {"error": "Record not found"})
        if media["polls_left"] > 0:
            media["polls_left"] -= 1
            return Response(206, _public(media))
        media["url"] = f"{self.url}/media/{media['id']}.png"
        return Response(200, _public(media))

    # -- account and instance ---------------------------------------------------------------

    def verify_credentials(self, request: Request) -> Response:
        return Response(200, self.account)

    def instance(self, request: Request) -> Response:
        return Response(
            200,
            {
                "domain": "fake.social",
                "configuration": {
                    "statuses": {
                        "max_characters": self.max_characters,
                        "max_media_attachments": 4,
                        "characters_reserved_per_url": 23,
                    }
                },
            },
        )


def _fields(request: Request) -> dict[str, list[str]]:
    """Form, JSON or multipart fields as lists of strings."""
    kind = request.header("content-type") or ""
    if kind.startswith("application/json"):
        body = request.json or {}
        return {k: v if isinstance(v, list) else [v] for k, v in body.items()}
    if kind.startswith("multipart/"):
        return {k: [v.decode("utf-8")] for k, (_n, v) in request.multipart().items()}
    return request.form


def _public(media: dict[str, Any]) -> dict[str, Any]:
    return {k: media[k] for k in ("id", "type", "url", "description")}


def _content(text: str) -> str:
    """Text as Mastodon renders it: paragraphs, line breaks and links with hidden parts."""

    def link(url: str) -> str:
        scheme, rest = url.split("://", 1)
        return (
            f'<a href="{html.escape(url)}" rel="nofollow noopener" target="_blank">'
            f'<span class="invisible">{scheme}://</span><span class="ellipsis">'
            f'{html.escape(rest[:30])}</span><span class="invisible">{html.escape(rest[30:])}'
            "</span></a>"
        )

    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        out, pos = [], 0
        for match in URL.finditer(block):
            out += [html.escape(block[pos : match.start()]), link(match.group(0))]
            pos = match.end()
        out.append(html.escape(block[pos:]))
        paragraphs.append("<p>" + "".join(out).replace("\n", "<br />") + "</p>")
    return "".join(paragraphs)


def _invalid(message: str) -> Response:
    return Response(422, {"error": message})


def _bearer_error(description: str) -> Response:
    """Doorkeeper's 401: the RFC 6750 challenge, and the description as the JSON error."""
    challenge = (
        f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{description}"'
    )
    return Response(401, {"error": description}, {"WWW-Authenticate": challenge})
