"""A fake Meta Graph API serving a Facebook Page and an Instagram account, as the real one behaves.

It enforces what Graph enforces: an `access_token` (query, form or multipart field, or a Bearer
header) on every call; required fields; the Page message limit, Instagram's caption and hashtag
limits; 506 for a consecutive duplicate Page post; container status before `media_publish`; the
Instagram publishing quota; metrics that no longer exist failing the whole insights request.
Errors come in Graph's envelope, `{"error": {"message","type","code","error_subcode",
"fbtrace_id"}}`, with HTTP 400 as Graph uses it; throttling carries `X-Business-Use-Case-Usage`.
Everything posted is kept (`posts`, `containers`, `media`) so tests can read it back.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.fakes.server import FakeServer, Request, Response

V = r"/v\d+\.\d+"
GRAPH_TIME = "%Y-%m-%dT%H:%M:%S+0000"
PAGE_METRICS = {  # the metrics still served in 2026 (docs/channels.md)
    "post_total_media_view_unique",
    "post_media_view",
    "post_clicks",
    "post_reactions_by_type_total",
}
IG_METRICS = {"reach", "views", "likes", "comments", "saved", "shares", "total_interactions"}
IG_IMAGE_UNSUPPORTED = {"shares"}  # "(#100) The metric ... is not supported for this media type"


REVOKED_MESSAGES = {
    458: "Error validating access token: The user has not authorized application 4242.",
    460: "Error validating access token: The session has been invalidated because the user "
    "changed their password or Facebook has changed the session for security reasons.",
    467: "Error validating access token: The session is invalid because the user logged out.",
}


def graph_error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    status: int = 400,
    kind: str = "OAuthException",
    is_transient: bool | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A Graph error answer in the documented envelope."""
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(5),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if is_transient is not None:
        error["is_transient"] = is_transient
    return Response(status, {"error": error}, dict(headers or {}))


@dataclass
class TokenInfo:
    """What /debug_token tells about the fake's token."""

    valid: bool = True
    expires_at: int = 0  # 0 = never
    data_access_expires_at: int = 0
    scopes: list[str] = field(
        default_factory=lambda: [
            "pages_manage_posts",
            "pages_read_engagement",
            "pages_show_list",
            "instagram_basic",
            "instagram_content_publish",
        ]
    )


class GraphFake(FakeServer):
    """Graph API for Page `page_id` and Instagram user `ig_user_id`, accepting `token`."""

    def __init__(
        self,
        token: str = "EAAB-fake-page-token",
        *,
        page_id: str = "1001",
        ig_user_id: str = "17841400000000001",
    ) -> None:
        super().__init__()
        self.token = token
        self.page_id = page_id
        self.ig_user_id = ig_user_id
        self._ids = 0
        self._state = threading.Lock()
        self.reset()
        r = self.route
        r("GET", f"{V}/debug_token", self.debug_token)
        r("POST", f"{V}/(?P<page>[^/]+)/feed", self.create_post)
        r("POST", f"{V}/(?P<page>[^/]+)/photos", self.create_photo)
        r("GET", f"{V}/(?P<page>[^/]+)/published_posts", self.list_posts)
        r("POST", f"{V}/(?P<user>[^/]+)/media", self.create_container)
        r("POST", f"{V}/(?P<user>[^/]+)/media_publish", self.publish_container)
        r("GET", f"{V}/(?P<user>[^/]+)/media", self.list_media)
        r("GET", f"{V}/(?P<user>[^/]+)/content_publishing_limit", self.publishing_limit)
        r("GET", f"{V}/(?P<id>[^/]+)/insights", self.read_insights)
        r("GET", f"{V}/(?P<id>[^/]+)", self.read_object)
        # Facebook Login: the dialog and the token exchanges, before the catch-all object route
        login = FacebookLogin(self)
        self.login = login
        self.routes[:0] = [
            ("GET", re.compile(f"^{V}/dialog/oauth$"), login.dialog),
            ("GET", re.compile(f"^{V}/oauth/access_token$"), login.access_token),
        ]

    def reset(self) -> None:
        """Forget everything posted, recorded and scripted (one fake can serve many tests)."""
        super().reset()
        self.app_token: str | None = None  # also accepted, as an app token for /debug_token
        self.info = TokenInfo()
        self.expired = False
        self.revoked_subcode: int | None = None  # 458, 460, 467: the token was invalidated
        self.posts: list[dict[str, Any]] = []  # Page posts, oldest first
        self.containers: dict[str, dict[str, Any]] = {}
        self.media: list[dict[str, Any]] = []  # Instagram media, oldest first
        self.insights: dict[str, dict[str, Any]] = {}  # object id -> metric -> value
        self.page_metrics = set(PAGE_METRICS)  # the names Graph knows (a test may rename)
        self.ig_metrics = set(IG_METRICS)
        self.counts: dict[str, dict[str, int]] = {}  # post id -> comments/shares
        self.container_polls = 1  # status reads that say IN_PROGRESS before FINISHED
        self.container_outcome = "FINISHED"  # or "ERROR"
        self.quota_total = 50
        self.unfetchable: set[str] = set()  # image URLs Meta cannot download
        self.scripted: deque[tuple[str | None, str | None, Response]] = deque()

    # --- scripting --------------------------------------------------------------------------

    def answer_next(
        self,
        response: Response,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` authorised requests (path containing `path`, `method`) so."""
        for _ in range(times):
            self.scripted.append((path, method, response))

    def throttle_next(self, code: int = 32, minutes: float = 5, *, path: str | None = None) -> None:
        """A Graph throttling error with the BUC header saying when access returns."""
        usage = {
            self.page_id: [
                {
                    "type": "pages",
                    "call_count": 100,
                    "total_cputime": 20,
                    "total_time": 35,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
        self.answer_next(
            graph_error(
                code,
                "(#32) Page request limit reached",
                headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            ),
            path=path,
        )

    def expired_response(self) -> Response:
        return graph_error(
            190,
            "Error validating access token: Session has expired on Tuesday, 24-Nov-26 "
            "10:00:00 PST. The current time is Tuesday, 24-Nov-26 11:00:00 PST.",
            subcode=463,
        )

    # --- auth -------------------------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        if request.path.endswith(("/dialog/oauth", "/oauth/access_token")):
            return None  # the login checks the app's id and secret itself
        token = _token_of(request)
        page_token = self.login.page_token_for(request, token)
        if page_token is not None:
            return page_token
        if not token:
            return graph_error(104, "An access token is required to request this resource.")
        if token != self.token and not (self.app_token and token == self.app_token):
            return graph_error(
                190, f"Invalid OAuth access token - Cannot parse access token: {token}"
            )
        if self.expired:
            return self.expired_response()
        if self.revoked_subcode is not None:
            return graph_error(
                190,
                REVOKED_MESSAGES.get(self.revoked_subcode, "Error validating access token"),
                subcode=self.revoked_subcode,
            )
        return None

    def _route(self, request: Request) -> Response:
        with self._state:
            for item in list(self.scripted):
                path, method, response = item
                if (path is None or path in request.path) and method in (None, request.method):
                    self.scripted.remove(item)
                    return response
        response = super()._route(request)
        response.headers.setdefault(
            "X-Business-Use-Case-Usage",
            json.dumps(
                {
                    self.page_id: [
                        {
                            "type": "pages",
                            "call_count": 2,
                            "total_cputime": 1,
                            "total_time": 1,
                            "estimated_time_to_regain_access": 0,
                        }
                    ]
                }
            ),
        )
        return response

    # --- Facebook Page ----------------------------------------------------------------------

    def create_post(self, request: Request) -> Response:
        if (error := self._page(request)) is not None:
            return error
        form = _fields(request)
        message, link = form.get("message", ""), form.get("link")
        if not message and not link:
            return graph_error(
                100, "(#100) Missing message or attachment", kind="GraphMethodException"
            )
        if len(message) > 63_206:
            return graph_error(100, "(#100) Message is too long")
        if link is not None and not link.startswith(("http://", "https://")):
            return graph_error(1609005, "Error posting link: the link could not be scraped")
        with self._state:
            last = self.posts[-1] if self.posts else None
            if last and (last["message"], last["link"]) == (message, link):
                return graph_error(506, "(#506) Duplicate status message", kind="OAuthException")
            post = self._new_post(message=message, link=link, kind="status")
        return Response(200, {"id": post["id"]})

    def create_photo(self, request: Request) -> Response:
        if (error := self._page(request)) is not None:
            return error
        parts = request.multipart() if "multipart" in (request.header("content-type") or "") else {}
        form = _fields(request)
        source = parts.get("source")
        if source is None and not form.get("url"):
            return graph_error(324, "(#324) Requires upload file", kind="OAuthException")
        if source is not None and len(source[1]) > 10 * 1024 * 1024:
            return graph_error(100, "(#100) The image is too large")
        with self._state:
            post = self._new_post(
                message=form.get("caption") or form.get("message") or "",
                link=None,
                kind="photo",
                alt_text_custom=form.get("alt_text_custom"),
                image=source[1] if source else None,
                filename=source[0] if source else None,
            )
            photo_id = self._next_id(5000)
            post["photo_id"] = photo_id
        return Response(200, {"id": photo_id, "post_id": post["id"]})

    def list_posts(self, request: Request) -> Response:
        if (error := self._page(request)) is not None:
            return error
        since = int(request.query.get("since", ["0"])[0])
        limit = int(request.query.get("limit", ["25"])[0])
        items = [
            {
                "id": p["id"],
                "message": p["message"],
                "created_time": p["created_time"],
                "permalink_url": f"https://www.facebook.com/{p['id']}",
            }
            for p in reversed(self.posts)
            if _stamp(p["created_time"]) >= since
        ]
        return Response(200, {"data": items[:limit], "paging": {}})

    def _new_post(self, **fields: Any) -> dict[str, Any]:
        post = {
            "id": f"{self.page_id}_{self._next_id(9000)}",
            "created_time": datetime.now(UTC).strftime(GRAPH_TIME),
            **fields,
        }
        self.posts.append(post)
        return post

    def _page(self, request: Request) -> Response | None:
        assert request.match is not None
        if request.match["page"] != self.page_id:
            return graph_error(
                100,
                f"(#100) Unsupported request - Object with ID '{request.match['page']}' does "
                "not exist, cannot be loaded due to missing permissions, or does not support "
                "this operation",
                kind="GraphMethodException",
            )
        return None

    # --- Instagram ----------------------------------------------------------------------------

    def create_container(self, request: Request) -> Response:
        if (error := self._user(request)) is not None:
            return error
        form = _fields(request)
        image_url, caption = form.get("image_url"), form.get("caption", "")
        if not image_url:
            return graph_error(100, "(#100) The parameter image_url is required")
        if not image_url.startswith(("http://", "https://")) or image_url in self.unfetchable:
            return graph_error(
                9004,
                "Media download has failed. The media URI doesn't meet our requirements.",
                subcode=2207052,
            )
        if len(caption) > 2200:
            return graph_error(100, "(#100) The caption is too long", subcode=2207028)
        if sum(1 for w in caption.split() if w.startswith("#")) > 30:
            return graph_error(100, "(#100) Too many hashtags", subcode=2207028)
        with self._state:
            container_id = self._next_id(17_900_000_000_000_000)
            self.containers[container_id] = {
                "id": container_id,
                "image_url": image_url,
                "caption": caption,
                "alt_text": form.get("alt_text"),
                "status_code": "IN_PROGRESS",
                "polls_left": self.container_polls,
            }
        return Response(200, {"id": container_id})

    def publish_container(self, request: Request) -> Response:
        if (error := self._user(request)) is not None:
            return error
        creation_id = _fields(request).get("creation_id")
        with self._state:
            container = self.containers.get(creation_id or "")
            if container is None:
                return graph_error(100, "(#100) Param creation_id is invalid", subcode=2207001)
            if container["status_code"] == "PUBLISHED":
                return graph_error(100, "(#100) The media has already been published")
            if container["status_code"] != "FINISHED":
                return graph_error(9007, "Media ID is not available", subcode=2207027)
            day_ago = datetime.now(UTC) - timedelta(hours=24)
            if sum(1 for m in self.media if m["at"] >= day_ago) >= self.quota_total:
                return graph_error(
                    9,
                    "Application request limit reached",
                    subcode=2207042,
                    kind="OAuthException",
                )
            media_id = self._next_id(17_950_000_000_000_000)
            now = datetime.now(UTC)
            self.media.append(
                {
                    "id": media_id,
                    "caption": container["caption"],
                    "alt_text": container["alt_text"],
                    "image_url": container["image_url"],
                    "timestamp": now.strftime(GRAPH_TIME),
                    "permalink": f"https://www.instagram.com/p/{media_id[-8:]}/",
                    "container": creation_id,
                    "at": now,
                }
            )
            container["status_code"] = "PUBLISHED"
        return Response(200, {"id": media_id})

    def list_media(self, request: Request) -> Response:
        if (error := self._user(request)) is not None:
            return error
        limit = int(request.query.get("limit", ["25"])[0])
        items = [
            {k: m[k] for k in ("id", "caption", "timestamp", "permalink")}
            for m in reversed(self.media)
        ]
        return Response(200, {"data": items[:limit], "paging": {}})

    def publishing_limit(self, request: Request) -> Response:
        if (error := self._user(request)) is not None:
            return error
        day_ago = datetime.now(UTC) - timedelta(hours=24)
        used = sum(1 for m in self.media if m["at"] >= day_ago)
        return Response(
            200,
            {
                "data": [
                    {
                        "quota_usage": used,
                        "config": {"quota_total": self.quota_total, "quota_duration": 86400},
                    }
                ]
            },
        )

    def _user(self, request: Request) -> Response | None:
        assert request.match is not None
        if request.match["user"] != self.ig_user_id:
            return graph_error(100, "(#100) Unsupported request", kind="GraphMethodException")
        return None

    # --- shared -----------------------------------------------------------------------------

    def debug_token(self, request: Request) -> Response:
        token = request.query.get("input_token", [""])[0]
        if token != self.token:
            return Response(
                200,
                {
                    "data": {
                        "is_valid": False,
                        "error": {"code": 190, "message": "Invalid OAuth access token."},
                        "scopes": [],
                    }
                },
            )
        info = self.info
        data: dict[str, Any] = {
            "app_id": "4242",
            "type": "PAGE",
            "application": "Tryg Aalborg",
            "is_valid": info.valid,
            "expires_at": info.expires_at,
            "data_access_expires_at": info.data_access_expires_at,
            "issued_at": int(datetime.now(UTC).timestamp()) - 3600,
            "scopes": list(info.scopes),
            "profile_id": self.page_id,
        }
        if not info.valid:
            data["error"] = {"code": 190, "message": "Error validating access token"}
        return Response(200, {"data": data})

    def read_insights(self, request: Request) -> Response:
        assert request.match is not None
        object_id = request.match["id"]
        metrics = request.query.get("metric", [""])[0].split(",")
        is_page_post = any(p["id"] == object_id for p in self.posts)
        is_media = any(m["id"] == object_id for m in self.media)
        if not (is_page_post or is_media):
            return graph_error(100, f"(#100) Object with ID '{object_id}' does not exist")
        known = self.page_metrics if is_page_post else self.ig_metrics
        for metric in metrics:
            if metric not in known:
                return graph_error(
                    100, "(#100) The value must be a valid insights metric", subcode=2108006
                )
            if is_media and metric in IG_IMAGE_UNSUPPORTED:
                return graph_error(
                    100, f"(#100) The metric {metric} is not supported for this media type"
                )
        stored = self.insights.get(object_id, {})
        data = [
            {
                "name": metric,
                "period": "lifetime",
                "values": [{"value": stored[metric]}],
                "title": metric,
                "description": metric,
                "id": f"{object_id}/insights/{metric}/lifetime",
            }
            for metric in metrics
            if metric in stored
        ]
        return Response(200, {"data": data})

    def read_object(self, request: Request) -> Response:
        assert request.match is not None
        object_id = request.match["id"]
        if object_id == self.page_id:
            return Response(200, {"id": self.page_id, "name": "Tryg Aalborg"})
        if object_id == self.ig_user_id:
            return Response(200, {"id": self.ig_user_id, "username": "trygaalborg"})
        with self._state:
            container = self.containers.get(object_id)
            if container is not None:
                if container["status_code"] == "IN_PROGRESS":
                    if container["polls_left"] <= 0:
                        container["status_code"] = self.container_outcome
                    container["polls_left"] -= 1
                body = {"id": object_id, "status_code": container["status_code"]}
                if container["status_code"] == "ERROR":
                    body["status"] = "Error: 2207004 (image too large)"
                return Response(200, body)
        for media in self.media:
            if media["id"] == object_id:
                return Response(200, {"id": object_id, "permalink": media["permalink"]})
        for post in self.posts:
            if post["id"] == object_id:
                counts = self.counts.get(object_id, {})
                return Response(
                    200,
                    {
                        "id": object_id,
                        "shares": {"count": counts.get("shares", 0)},
                        "comments": {
                            "data": [],
                            "summary": {"total_count": counts.get("comments", 0)},
                        },
                    },
                )
        return graph_error(
            100,
            f"(#100) Unsupported get request. Object with ID '{object_id}' does not exist",
            kind="GraphMethodException",
        )

    def _next_id(self, base: int) -> str:
        self._ids += 1
        return str(base + self._ids)


class FacebookLogin:
    """Facebook Login as Graph enforces it: the app's id and secret, the code once and with its
    redirect_uri, `fb_exchange_token` only for a valid short-lived user token, and a Page token
    that never expires only when read with a long-lived user token (read with a short-lived
    one it dies in an hour, as a real one does). The Page token issued becomes the fake's
    `token`, and `/debug_token` reports its expiry."""

    def __init__(
        self, fake: GraphFake, app_id: str = "4242", app_secret: str = "app-SECMARK"
    ) -> None:
        self.fake, self.app_id, self.app_secret = fake, app_id, app_secret
        self.codes: dict[str, str] = {}  # code -> redirect_uri
        self.short: set[str] = set()
        self.long: set[str] = set()
        self.exchanges = 0

    def dialog(self, request: Request) -> Response:
        q = {k: v[0] for k, v in request.query.items()}
        if q.get("client_id") != self.app_id or not q.get("redirect_uri") or not q.get("state"):
            return graph_error(191, "Invalid app id, redirect_uri or state")
        code = f"fbcode-{secrets.token_urlsafe(10)}"
        self.codes[code] = q["redirect_uri"]
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
        return Response(302, b"", {"Location": target})

    def access_token(self, request: Request) -> Response:
        q = {k: v[0] for k, v in request.query.items()}
        if q.get("client_id") != self.app_id or q.get("client_secret") != self.app_secret:
            return graph_error(1, "Error validating application. Invalid application ID.")
        if q.get("grant_type") == "fb_exchange_token":
            if q.get("fb_exchange_token") not in self.short:
                return graph_error(190, "Invalid OAuth access token.")
            self.exchanges += 1
            token = f"EAAlong-TOKMARK-{secrets.token_urlsafe(10)}"
            self.long.add(token)
            return Response(
                200, {"access_token": token, "token_type": "bearer", "expires_in": 5183944}
            )
        code = q.get("code", "")
        if self.codes.pop(code, None) != q.get("redirect_uri"):
            return graph_error(100, "Invalid verification code format.", subcode=36007)
        token = f"EAAshort-TOKMARK-{secrets.token_urlsafe(10)}"
        self.short.add(token)
        return Response(200, {"access_token": token, "token_type": "bearer", "expires_in": 5400})

    def page_token_for(self, request: Request, token: str | None) -> Response | None:
        """`GET /{page_id}?fields=access_token` with a user token: the Page's token."""
        fields = request.query.get("fields", [""])[0]
        if fields != "access_token" or token not in self.short | self.long:
            return None
        page = f"EAApage-TOKMARK-{secrets.token_urlsafe(10)}"
        self.fake.token = page
        self.fake.app_token = f"{self.app_id}|{self.app_secret}"
        never = token in self.long
        stamp = 0 if never else int(datetime.now(UTC).timestamp()) + 3600
        self.fake.info = TokenInfo(expires_at=stamp, data_access_expires_at=0)
        return Response(200, {"id": self.fake.page_id, "access_token": page})


def _fields(request: Request) -> dict[str, str]:
    """Form fields from an urlencoded or multipart body (files excluded)."""
    content_type = request.header("content-type") or ""
    if "multipart/form-data" in content_type:
        return {
            name: value.decode("utf-8")
            for name, (filename, value) in request.multipart().items()
            if filename is None
        }
    return {k: v[0] for k, v in request.form.items()}


def _token_of(request: Request) -> str | None:
    bearer = request.header("authorization") or ""
    if bearer.startswith("Bearer "):
        return bearer[7:]
    if "access_token" in request.query:
        return request.query["access_token"][0]
    return _fields(request).get("access_token") if request.body else None


def _stamp(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())
