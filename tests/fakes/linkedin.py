"""A fake LinkedIn: Posts API, Images API upload, share statistics and token introspection.

It enforces what LinkedIn enforces as far as we know it: the Bearer token, the `LinkedIn-Version`
and `X-Restli-Protocol-Version: 2.0.0` headers (an unknown or sunset version gets 426), an author
the token may post for, the post's required fields, 3,000 characters of commentary, an uploaded
image for `content.media`, duplicate content (422 `DUPLICATE_POST` naming the earlier URN), and
the little text format: like LinkedIn it silently cuts the commentary at the first unescaped
reserved character, so tests can see what readers would see. Errors have LinkedIn's shape
(`status`, `message`, `serviceErrorCode`, `errorDetails.inputErrors`); daily 429s carry no
headers at all.

Share statistics answer in the shape of LinkedIn's Organization Share Statistics reference
(li-lms-2025-11 and later, checked December 2026): `totalShareStatistics` holds only the
`ShareStatisticsData` fields in `SHARE_STATISTICS` (a test that sets another name fails at once,
so the adapter can only be proven against current names), only for posts of the last 12 months
(the endpoint's rolling window), and only for the finder's own parameters.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.oauth import OAuth2Provider
from tests.fakes.server import FakeServer, Request, Response

ACTIVE_VERSIONS = frozenset({"202601", "202603", "202605", "202607", "202609", "202611"})
RESERVED = set("\\|{}@[]()<>#*_~")
_URL = re.compile(r"https?://[^\s<>\"']+")
_HASHTAG = re.compile(r"#(?=\w*[^\W\d_])\w+")
_MENTION = re.compile(r"@\[([^\]]*)\]\((urn:li:(?:person|organization):\d+)\)")
SHARE_STATISTICS = frozenset(
    {
        "clickCount",
        "commentCount",
        "engagement",  # a rate: (clicks + likes + comments + shares) / impressions
        "impressionCount",
        "likeCount",
        "shareCount",
        "uniqueImpressionsCount",
    }
)
STATISTICS_PARAMETERS = frozenset(
    {"q", "organizationalEntity", "shares", "ugcPosts", "timeIntervals"}
)
STATISTICS_WINDOW_MS = 365 * 86400 * 1000
_HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\?#\|(\w+)\}")


@dataclass
class StoredPost:
    """A post as the fake keeps it: the body it got and the text a reader sees."""

    urn: str
    body: dict[str, Any]
    shown: str
    created_at: int = field(default_factory=lambda: int(time.time() * 1000))


def shown_text(commentary: str) -> str:
    """What LinkedIn shows for little-format commentary: escapes resolved, cut at the first
    unescaped reserved character outside a URL, hashtag, mention or hashtag template."""
    out: list[str] = []
    i = 0
    while i < len(commentary):
        rest = commentary[i:]
        char = commentary[i]
        if char == "\\" and i + 1 < len(commentary):
            out.append(commentary[i + 1])
            i += 2
            continue
        url = _URL.match(rest)
        if url and (i == 0 or not commentary[i - 1].isalnum()):
            out.append(url.group())
            i += len(url.group())
            continue
        tag = _HASHTAG.match(rest)
        if tag and (i == 0 or not (commentary[i - 1].isalnum() or commentary[i - 1] in "&/#")):
            out.append(tag.group())
            i += len(tag.group())
            continue
        mention = _MENTION.match(rest)
        if mention:
            out.append(mention.group(1))
            i += len(mention.group())
            continue
        template = _HASHTAG_TEMPLATE.match(rest)
        if template:
            out.append("#" + template.group(1))
            i += len(template.group())
            continue
        if char in RESERVED:
            break  # LinkedIn truncates silently here
        out.append(char)
        i += 1
    return "".join(out)


def error(status: int, message: str, **extra: Any) -> Response:
    return Response(status, {"status": status, "message": message, **extra})


class FakeLinkedin(FakeServer):
    """One organisation page; `token` may post for `organization_id`."""

    def __init__(
        self,
        *,
        token: str = "li-token",
        organization_id: str = "2414183",
        client_id: str = "li-client",
        client_secret: str = "li-secret",
    ) -> None:
        super().__init__()
        self.token = token
        self.organization = f"urn:li:organization:{organization_id}"
        self.client_id, self.client_secret = client_id, client_secret
        # 3-legged OAuth on www.linkedin.com: the client in the form, no PKCE for a web app,
        # refresh tokens (for apps that have them) that are not rotated
        self.oauth = OAuth2Provider(
            client_id=client_id,
            client_secret=client_secret,
            access_life=2.0,
            authorize_path="/oauth/v2/authorization",
            token_path="/oauth/v2/accessToken",
            require_pkce=False,
            rotate=False,
        )
        self.oauth.install(self)
        self._ids = itertools.count(7_100_000_000_000_000_001)
        self.reset()
        self.route("POST", "/rest/posts", self.create_post)
        self.route("GET", "/rest/posts", self.find_posts)
        self.route("POST", "/rest/images", self.initialize_upload)
        self.route("PUT", r"/dms-uploads/(?P<upload>\w+)", self.upload)
        self.route("GET", "/rest/organizationalEntityShareStatistics", self.share_statistics)
        self.route("POST", "/oauth/v2/introspectToken", self.introspect)

    def reset(self) -> None:
        """Forget everything posted and asked, so one running server serves many tests."""
        super().reset()
        self.token_info: dict[str, Any] = {
            "active": True,
            "status": "active",
            "expires_at": int(time.time()) + 50 * 86400,
            "scope": "r_organization_social,w_organization_social,rw_organization_admin",
            "auth_type": "3L",
        }
        self.posts: list[StoredPost] = []
        self.images: dict[str, bytes | None] = {}  # image URN -> bytes once uploaded
        self.uploads: dict[str, str] = {}  # upload id -> image URN
        self.stats: dict[str, dict[str, Any]] = {}  # post URN -> totalShareStatistics
        self.canned: deque[Response] = deque()  # answered before anything else

    # --- test controls ----------------------------------------------------------------------

    def throttle_next(self) -> None:
        """The next request hits the daily limit: 429 with no Retry-After or other header."""
        self.canned.append(
            error(
                429,
                "Resource level throttle APPLICATION DAY limit for calls to this resource "
                "is reached.",
            )
        )

    def shown(self) -> list[str]:
        return [p.shown for p in self.posts]

    # --- auth and headers -------------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        if self.canned:
            return self.canned.popleft()
        if request.path.startswith("/oauth/"):
            return None  # introspection authenticates with client id and secret
        header = request.header("authorization") or ""
        state = self.oauth.access_state(header[7:]) if header.startswith("Bearer ") else ""
        if header != f"Bearer {self.token}" and state != "ok":
            if state == "expired":
                return self.expired_response()
            if state == "revoked":
                return error(
                    401,
                    "The token used in the request has been revoked by the user",
                    serviceErrorCode=65601,
                    code="REVOKED_ACCESS_TOKEN",
                )
            return error(
                401,
                "Invalid access token",
                serviceErrorCode=65600,
                code="INVALID_ACCESS_TOKEN",
            )
        if request.path.startswith("/rest/"):
            version = request.header("linkedin-version")
            if not version:
                return error(400, "A version must be present. Please specify a version.")
            if version not in ACTIVE_VERSIONS:
                return error(
                    426,
                    f"Requested version {version} is not active",
                    code="NONEXISTENT_VERSION",
                )
            if request.header("x-restli-protocol-version") != "2.0.0":
                return error(400, "Rest.li protocol 2.0.0 is required for this resource")
        return None

    def expired_response(self) -> Response:
        return error(
            401,
            "The token used in the request has expired",
            serviceErrorCode=65602,
            code="EXPIRED_ACCESS_TOKEN",
        )

    # --- Images API -------------------------------------------------------------------------

    def initialize_upload(self, request: Request) -> Response:
        if request.query.get("action") != ["initializeUpload"]:
            return error(400, "Unsupported action")
        owner = ((request.json or {}).get("initializeUploadRequest") or {}).get("owner")
        if owner != self.organization:
            return error(403, f"Not enough permissions to upload for {owner}")
        upload = f"{next(self._ids)}"
        image = f"urn:li:image:D4E10AQ{upload}"
        self.uploads[upload] = image
        self.images[image] = None
        return Response(
            200,
            {
                "value": {
                    "uploadUrlExpiresAt": int(time.time() * 1000) + 86_400_000,
                    "uploadUrl": f"{self.url}/dms-uploads/{upload}",
                    "image": image,
                }
            },
        )

    def upload(self, request: Request) -> Response:
        image = self.uploads.get(request.match["upload"] if request.match else "")
        if image is None:
            return error(404, "Upload not found")
        if not request.body:
            return error(400, "Empty upload")
        self.images[image] = request.body
        return Response(201, b"")

    # --- Posts API --------------------------------------------------------------------------

    def create_post(self, request: Request) -> Response:
        body = request.json
        if not isinstance(body, dict):
            return error(400, "Request body is not JSON")
        problems = []
        for name in ("author", "commentary", "visibility", "distribution", "lifecycleState"):
            if name not in body:
                problems.append(
                    {"code": "MISSING_FIELD", "description": f"Field /{name} is required"}
                )
        if problems:
            return self._input_errors(problems)
        if body["author"] != self.organization:
            return error(403, f"Not enough permissions to post as {body['author']}")
        if body["visibility"] not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"):
            return self._input_errors([{"code": "INVALID_VALUE", "description": "/visibility"}])
        if body["lifecycleState"] not in ("PUBLISHED", "DRAFT"):
            return self._input_errors([{"code": "INVALID_VALUE", "description": "/lifecycleState"}])
        shown = shown_text(str(body["commentary"]))
        if len(shown) > 3000:
            return self._input_errors(
                [{"code": "FIELD_LENGTH_TOO_LONG", "description": "/commentary exceeds 3000"}]
            )
        content = body.get("content") or {}
        media = content.get("media")
        if media is not None:
            if self.images.get(media.get("id")) is None:
                return error(
                    400,
                    f"Image {media.get('id')} is not uploaded or not available",
                )
            if len(media.get("altText") or "") > 4086:
                return self._input_errors(
                    [{"code": "FIELD_LENGTH_TOO_LONG", "description": "/content/media/altText"}]
                )
        article = content.get("article")
        if article is not None and not str(article.get("source", "")).startswith("http"):
            return self._input_errors([{"code": "INVALID_URL", "description": "/content/article"}])
        for old in self.posts:
            if old.body["author"] == body["author"] and old.shown == shown:
                return Response(
                    422,
                    {
                        "errorDetailType": "com.linkedin.common.error.BadRequest",
                        "message": f"Content is a duplicate of {old.urn}",
                        "errorDetails": {
                            "inputErrors": [
                                {
                                    "description": "Duplicate post is detected",
                                    "input": {},
                                    "code": "DUPLICATE_POST",
                                }
                            ]
                        },
                        "status": 422,
                    },
                )
        urn = f"urn:li:share:{next(self._ids)}"
        self.posts.append(StoredPost(urn=urn, body=body, shown=shown))
        return Response(201, b"", {"x-restli-id": urn, "x-linkedin-id": urn})

    def find_posts(self, request: Request) -> Response:
        if request.query.get("q") != ["author"]:
            return error(400, "Unsupported finder")
        author = (request.query.get("author") or [""])[0]
        if author != self.organization:
            return error(403, f"Not enough permissions to read posts of {author}")
        count = int((request.query.get("count") or ["10"])[0])
        if count > 100:
            return error(400, "count must be at most 100")
        newest = sorted(self.posts, key=lambda p: p.created_at, reverse=True)[:count]
        elements = [
            {
                "id": p.urn,
                "author": p.body["author"],
                "commentary": p.body["commentary"],
                "visibility": p.body["visibility"],
                "lifecycleState": p.body["lifecycleState"],
                "content": p.body.get("content"),
                "createdAt": p.created_at,
                "lastModifiedAt": p.created_at,
                "publishedAt": p.created_at,
            }
            for p in newest
        ]
        return Response(200, {"elements": elements, "paging": {"start": 0, "count": count}})

    # --- statistics -------------------------------------------------------------------------

    def share_statistics(self, request: Request) -> Response:
        if request.query.get("q") != ["organizationalEntity"]:
            return error(400, "Unsupported finder")
        if (request.query.get("organizationalEntity") or [""])[0] != self.organization:
            return error(403, "Not enough permissions to access share statistics")
        unknown = sorted(set(request.query) - STATISTICS_PARAMETERS)
        if unknown:
            return error(400, f"Unrecognized query parameters: {', '.join(unknown)}")
        made = {p.urn: p.created_at for p in self.posts}
        oldest = int(time.time() * 1000) - STATISTICS_WINDOW_MS
        elements = []
        for key, field_name in (("shares", "share"), ("ugcPosts", "ugcPost")):
            for value in request.query.get(key, []):
                match = re.fullmatch(r"List\((.*)\)", value)
                if not match:
                    return error(400, f"{key} must use List(...) syntax")
                for urn in filter(None, match.group(1).split(",")):
                    if urn not in self.stats or made.get(urn, oldest) < oldest:
                        continue
                    wrong = set(self.stats[urn]) - SHARE_STATISTICS
                    assert not wrong, f"not a ShareStatisticsData field: {sorted(wrong)}"
                    elements.append(
                        {
                            "organizationalEntity": self.organization,
                            field_name: urn,
                            "totalShareStatistics": self.stats[urn],
                        }
                    )
        return Response(
            200, {"paging": {"count": 10, "start": 0, "links": []}, "elements": elements}
        )

    # --- OAuth ------------------------------------------------------------------------------

    def introspect(self, request: Request) -> Response:
        form = {k: v[0] for k, v in request.form.items()}
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return Response(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        if form.get("token") != self.token:
            return Response(200, {"active": False, "status": "revoked"})
        return Response(200, {"client_id": self.client_id, **self.token_info})

    # --- helpers ----------------------------------------------------------------------------

    def _input_errors(self, problems: list[dict[str, Any]]) -> Response:
        return Response(
            422,
            {
                "errorDetailType": "com.linkedin.common.error.BadRequest",
                "message": "; ".join(p["description"] for p in problems),
                "errorDetails": {"inputErrors": [{**p, "input": {}} for p in problems]},
                "status": 422,
            },
        )
