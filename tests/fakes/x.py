"""A fake X API v2: posts, media upload with alt text, post lookup with metrics, timelines.

It enforces what X enforces: the Bearer user token, a weighted length of at most 280 (counted
with `comms.content.lint.text_length(text, "x")`,
as twitter-text does), media ids that were uploaded by
this account, alt text of at most 1,000 characters, `tweet_image` uploads of at most 5 MB, and
duplicate text (403 "duplicate content"). Errors have X's problem shape (`title`, `detail`,
`type`, `status`, sometimes `errors[]`); every answer carries `x-rate-limit-*` headers, and a
429 can name the 15-minute window's reset or the 24-hour user cap's. Posts come back as X gives
them: `&`, `<`, `>` escaped and every URL replaced by a t.co link (plus one for an image), and
owner-only metrics are refused with a 200 holding only `errors` for posts over 30 days old.

The metric objects hold the names X's metrics reference documents (checked December 2026):
`public_metrics` retweet, reply, like, quote, bookmark and impression counts; the owner-only
`non_public_metrics` impression_count, url_link_clicks, user_profile_clicks and engagements;
`organic_metrics` the same without quotes and bookmarks, which have no paid context. An unknown
`tweet.fields` value is refused with 400, as X refuses it, so an adapter asking for a retired or
misspelt field fails here first.
"""

from __future__ import annotations

import html
import itertools
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from comms.content.lint import text_length
from tests.fakes.oauth import OAuth2Provider
from tests.fakes.oauth1 import OAuth1Provider
from tests.fakes.server import FakeServer, Request, Response

_URL = re.compile(r"https?://\S+")
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
TWEET_FIELDS = frozenset(
    {
        "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
        "conversation_id", "created_at", "display_text_range", "edit_controls",
        "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
        "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics",
        "possibly_sensitive", "promoted_metrics", "public_metrics", "referenced_tweets",
        "reply_settings", "scopes", "source", "text", "withheld",
    }
)  # fmt: skip
NO_PAID_CONTEXT = frozenset({"quote_count", "bookmark_count"})


@dataclass
class StoredTweet:
    """A post as the fake keeps it."""

    id: str
    text: str  # as sent
    media_ids: list[str]
    created_at: float = field(default_factory=time.time)
    public_metrics: dict[str, int] = field(
        default_factory=lambda: {
            "retweet_count": 0,
            "reply_count": 0,
            "like_count": 0,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 0,
        }
    )
    non_public_metrics: dict[str, int] = field(
        default_factory=lambda: {
            "impression_count": 0,
            "url_link_clicks": 0,
            "user_profile_clicks": 0,
            "engagements": 0,
        }
    )

    def shown(self) -> str:
        """The text as X returns it: entities escaped, URLs as t.co links, media link last."""
        links = itertools.count(1)
        text = html.escape(self.text, quote=False)
        text = _URL.sub(lambda _m: f"https://t.co/{self.id[-4:]}{next(links)}", text)
        if self.media_ids:
            text += f" https://t.co/m{self.id[-4:]}"
        return text


def problem(
    status: int, title: str, detail: str, kind: str = "about:blank", **extra: Any
) -> Response:
    return Response(
        status, {"title": title, "detail": detail, "type": kind, "status": status, **extra}
    )


class FakeX(FakeServer):
    """One account (`user_id`, `username`) whose user token is `token`."""

    def __init__(
        self,
        *,
        token: str = "x-token",
        user_id: str = "1580000000000000001",
        username: str = "TrygAalborg",
    ) -> None:
        super().__init__()
        self.token = token
        self.oauth = OAuth2Provider()
        self.oauth.install(self)
        self.oauth1 = OAuth1Provider()
        self.oauth1.install(self)
        self.user = {"id": user_id, "name": "Tryg Aalborg", "username": username}
        self._ids = itertools.count(1_860_000_000_000_000_001)
        self.reset()
        self.route("POST", "/2/tweets", self.create_tweet)
        self.route("GET", r"/2/tweets/(?P<id>\d+)", self.lookup)
        self.route("POST", "/2/media/upload", self.upload)
        self.route("POST", "/2/media/metadata", self.metadata)
        self.route("GET", "/2/users/me", self.me)
        self.route("GET", r"/2/users/(?P<id>\d+)/tweets", self.timeline)

    def reset(self) -> None:
        """Forget everything, so one running server serves many tests."""
        super().reset()
        self.tweets: list[StoredTweet] = []
        self.media: dict[str, dict[str, Any]] = {}  # id -> {"bytes", "category", "alt"}
        self.canned: deque[Response] = deque()

    # --- test controls ----------------------------------------------------------------------

    def limit_next(self, window: str = "15min", reset_in: float = 600) -> None:
        """The next request is over a limit: the 15-minute window, or the 24-hour user cap."""
        reset = str(int(time.time() + reset_in))
        headers = {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0"}
        if window == "24hour":
            headers = {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "57",
                "x-rate-limit-reset": str(int(time.time() + 60)),
                "x-user-limit-24hour-limit": "17",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": reset,
            }
        else:
            headers["x-rate-limit-reset"] = reset
        body = problem(429, "Too Many Requests", "Too Many Requests").body
        self.canned.append(Response(429, body, headers))

    def texts(self) -> list[str]:
        return [t.text for t in self.tweets]

    # --- auth -------------------------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        if self.canned:
            return self.canned.popleft()
        if request.path in (self.oauth.authorize_path, self.oauth.token_path) or (
            request.path.startswith("/oauth/")
        ):
            return None  # the authorisation servers check their own credentials
        header = request.header("authorization") or ""
        if header.startswith("OAuth "):
            if self.oauth1.valid_call(request):
                return None
            return problem(401, "Unauthorized", "Unauthorized")
        if header == f"Bearer {self.token}":
            return None
        if header.startswith("Bearer ") and self.oauth.access_state(header[7:]) == "ok":
            return None
        return problem(401, "Unauthorized", "Unauthorized")

    def expired_response(self) -> Response:
        return problem(401, "Unauthorized", "Unauthorized")

    def _route(self, request: Request) -> Response:
        response = super()._route(request)
        response.headers.setdefault("x-rate-limit-limit", "100")
        response.headers.setdefault("x-rate-limit-remaining", "99")
        response.headers.setdefault("x-rate-limit-reset", str(int(time.time() + 900)))
        return response

    # --- media ------------------------------------------------------------------------------

    def upload(self, request: Request) -> Response:
        parts = request.multipart()
        if "media" not in parts:
            return self._invalid("media", "The `media` field is required.")
        category = parts.get("media_category", (None, b""))[1].decode()
        if category not in ("tweet_image", "dm_image", "subtitles"):
            return self._invalid(
                "media_category", f"`{category}` is not one of the allowed values."
            )
        content = parts["media"][1]
        if category == "tweet_image" and len(content) > 5 * 1024 * 1024:
            return self._invalid("media", "File size exceeds 5242880 bytes.")
        media_id = str(next(self._ids))
        self.media[media_id] = {"bytes": content, "category": category, "alt": None}
        return Response(
            200,
            {
                "data": {
                    "id": media_id,
                    "media_key": f"3_{media_id}",
                    "size": len(content),
                    "expires_after_secs": 86400,
                    "image": {"image_type": "image/png", "w": 1, "h": 1},
                }
            },
        )

    def metadata(self, request: Request) -> Response:
        body = request.json or {}
        media = self.media.get(str(body.get("id")))
        if media is None:
            return self._invalid("id", "Your media IDs are invalid.")
        alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        if not isinstance(alt, str) or not alt:
            return self._invalid("metadata.alt_text.text", "Alt text is required.")
        if len(alt) > 1000:
            return self._invalid("metadata.alt_text.text", "Alt text must be at most 1000 chars.")
        media["alt"] = alt
        return Response(
            200, {"data": {"id": body["id"], "associated_metadata": {"alt_text": {"text": alt}}}}
        )

    # --- posts ------------------------------------------------------------------------------

    def create_tweet(self, request: Request) -> Response:
        body = request.json
        if not isinstance(body, dict):
            return self._invalid("body", "Request body must be JSON.")
        text = body.get("text")
        media_ids = list(((body.get("media") or {}).get("media_ids")) or [])
        if not text and not media_ids:
            return self._invalid("text", "Either `text` or `media` is required.")
        text = str(text or "")
        if text_length(text, "x") > 280:
            return self._invalid("text", "Tweet text is too long (over 280 weighted characters).")
        if len(media_ids) > 4 or any(m not in self.media for m in media_ids):
            return problem(
                400,
                "Invalid Request",
                "One or more parameters to your request was invalid.",
                "https://api.twitter.com/2/problems/invalid-request",
                errors=[
                    {
                        "parameters": {"media.media_ids": media_ids},
                        "message": "Your media IDs are invalid.",
                    }
                ],
            )
        if any(t.text == text for t in self.tweets):
            return problem(403, "Forbidden", DUPLICATE)
        tweet = StoredTweet(id=str(next(self._ids)), text=text, media_ids=media_ids)
        self.tweets.append(tweet)
        return Response(
            201,
            {"data": {"id": tweet.id, "text": tweet.shown(), "edit_history_tweet_ids": [tweet.id]}},
        )

    def lookup(self, request: Request) -> Response:
        tweet_id = request.match["id"] if request.match else ""
        tweet = next((t for t in self.tweets if t.id == tweet_id), None)
        if tweet is None:
            return Response(
                200,
                {
                    "errors": [
                        {
                            "value": tweet_id,
                            "detail": f"Could not find tweet with id: [{tweet_id}].",
                            "title": "Not Found Error",
                            "resource_type": "tweet",
                            "parameter": "id",
                            "resource_id": tweet_id,
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
            )
        fields = set(",".join(request.query.get("tweet.fields", [])).split(",")) - {""}
        unknown = sorted(fields - TWEET_FIELDS)
        if unknown:
            return problem(
                400,
                "Invalid Request",
                "One or more parameters to your request was invalid.",
                "https://api.twitter.com/2/problems/invalid-request",
                errors=[
                    {
                        "parameters": {"tweet.fields": unknown},
                        "message": f"The `tweet.fields` query parameter value [{unknown[0]}]"
                        " is not one of the allowed values",
                    }
                ],
            )
        private = {"non_public_metrics", "organic_metrics"} & fields
        if private and time.time() - tweet.created_at > 30 * 86400:
            return Response(
                200,
                {
                    "errors": [
                        {
                            "parameters": {"tweet.fields": sorted(private)},
                            "message": "Sorry, you are not authorized to access non_public_metrics"
                            " on a Tweet older than 30 days.",
                        }
                    ]
                },
            )
        data: dict[str, Any] = {
            "id": tweet.id,
            "text": tweet.shown(),
            "edit_history_tweet_ids": [tweet.id],
        }
        if "public_metrics" in fields:
            data["public_metrics"] = dict(tweet.public_metrics)
        if "non_public_metrics" in fields:
            data["non_public_metrics"] = dict(tweet.non_public_metrics)
        if "organic_metrics" in fields:
            data["organic_metrics"] = {
                **{k: v for k, v in tweet.public_metrics.items() if k not in NO_PAID_CONTEXT},
                **{k: v for k, v in tweet.non_public_metrics.items() if k != "engagements"},
            }
        return Response(200, {"data": data})

    # --- users ------------------------------------------------------------------------------

    def me(self, request: Request) -> Response:
        return Response(200, {"data": dict(self.user)})

    def timeline(self, request: Request) -> Response:
        if (request.match["id"] if request.match else "") != self.user["id"]:
            return problem(403, "Forbidden", "You are not permitted to read this timeline.")
        max_results = int((request.query.get("max_results") or ["10"])[0])
        if not 5 <= max_results <= 100:
            return self._invalid("max_results", "must be between 5 and 100")
        since = 0.0
        if request.query.get("start_time"):
            stamp = request.query["start_time"][0].replace("Z", "+00:00")
            since = datetime.fromisoformat(stamp).timestamp()
        newest = sorted(
            (t for t in self.tweets if t.created_at >= since),
            key=lambda t: t.created_at,
            reverse=True,
        )[:max_results]
        data = [
            {
                "id": t.id,
                "text": t.shown(),
                "created_at": datetime.fromtimestamp(t.created_at, UTC)
                .isoformat()
                .replace("+00:00", "Z"),
                "edit_history_tweet_ids": [t.id],
            }
            for t in newest
        ]
        meta: dict[str, Any] = {"result_count": len(data)}
        if data:
            meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
        return Response(200, {"data": data, "meta": meta} if data else {"meta": meta})

    # --- helpers ----------------------------------------------------------------------------

    def _invalid(self, parameter: str, message: str) -> Response:
        return problem(
            400,
            "Invalid Request",
            "One or more parameters to your request was invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
            errors=[{"parameters": {parameter: []}, "message": message}],
        )
