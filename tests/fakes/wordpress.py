"""A fake WordPress REST API (wp/v2 under /wp-json) that behaves like WordPress 6.1 core.

What it enforces, as the real one does (checked against a running WordPress 6.1):
- HTTP Basic with an Application Password; a wrong one is 401 `incorrect_password`, none is
  401 `rest_cannot_create` on create, 401 `rest_not_logged_in` on users/me, and 400
  `rest_invalid_param` wrapping `rest_forbidden_status` on `status=any`;
- capabilities: without `publish_posts` a `publish` is 403 `rest_cannot_publish`, without
  `upload_files` an upload is 403 `rest_cannot_create`;
- `status` must be one of publish/future/draft/pending/private (400 `rest_invalid_param`);
- uploads need Content-Disposition with a filename (400 `rest_upload_no_content_disposition`),
  a body (400 `rest_upload_no_data`) and an image type (500 `rest_upload_sideload_error`);
- no duplicate detection: a taken slug gets `-2`, `-3`, … as in `wp_unique_post_slug`;
- an unknown `featured_media` id is ignored on create, as WordPress 6.1 does.
Posts and media are kept in `posts` and `media` so tests can read them back.

Faults can be limited to one method: `fail_next("500", path="POST /wp/v2/posts")`.
"""

from __future__ import annotations

import base64
import re
import threading
from typing import Any

from tests.fakes.server import FakeServer, Fault, Request, Response

STATUSES = ("publish", "future", "draft", "pending", "private")
IMAGE_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
}
ADMIN_CAPS = ("publish_posts", "upload_files", "edit_posts", "read")


def wp_error(status: int, code: str, message: str, **data: Any) -> Response:
    """An error in WordPress's shape."""
    return Response(status, {"code": code, "message": message, "data": {"status": status, **data}})


class FakeWordPress(FakeServer):
    """WordPress with one user (`admin` by default) and its application password."""

    root = "/wp-json"

    def __init__(
        self,
        *,
        username: str = "admin",
        password: str = "abcd EFGH ijkl MNOP qrst UVWX",
        capabilities: tuple[str, ...] = ADMIN_CAPS,
        roles: tuple[str, ...] = ("administrator",),
    ) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.capabilities = set(capabilities)
        self.roles = list(roles)
        self.posts: dict[int, dict[str, Any]] = {}
        self.media: dict[int, dict[str, Any]] = {}
        self.uploads: dict[int, bytes] = {}
        self.next_id = 10
        self.rejections: list[Response] = []  # WordPress errors to answer next, in order
        self.drop_featured = False  # ignore featured_media on create, as for an unknown id
        self._local = threading.local()
        api = self.root + "/wp/v2"
        self.route("GET", f"{api}/users/me", self.me)
        self.route("GET", f"{api}/posts", self.list_posts)
        self.route("POST", f"{api}/posts", self.create_post)
        self.route("GET", rf"{api}/posts/(?P<id>\d+)", self.get_post)
        self.route("POST", rf"{api}/posts/(?P<id>\d+)", self.update_post)
        self.route("GET", f"{api}/media", self.list_media)
        self.route("POST", f"{api}/media", self.upload)
        self.route("GET", rf"{api}/media/(?P<id>\d+)", self.get_media)
        self.route("POST", rf"{api}/media/(?P<id>\d+)", self.update_media)

    def reset(self) -> None:
        """Forget every post, upload, request and fault (one server for many tests)."""
        super().reset()
        self.posts.clear()
        self.media.clear()
        self.uploads.clear()
        self.rejections.clear()
        self.capabilities = set(ADMIN_CAPS)
        self.roles = ["administrator"]
        self.drop_featured = False

    @property
    def api_url(self) -> str:
        """What the adapter's `base_url` option takes: the REST root."""
        return self.url + self.root

    def reject_next(self, status: int, code: str, message: str) -> None:
        """Answer the next routed request with this WordPress error."""
        self.rejections.append(wp_error(status, code, message))

    # --- auth -------------------------------------------------------------------------------

    def user(self, request: Request) -> str | None:
        """The logged-in user's name, or None when no credentials came."""
        header = request.header("authorization") or ""
        if not header.startswith("Basic "):
            return None
        return base64.b64decode(header[6:]).decode().partition(":")[0]

    def check_auth(self, request: Request) -> Response | None:
        header = request.header("authorization")
        if header is None:
            return None  # anonymous: each route decides, as WordPress does
        try:
            user, _, password = (
                base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
            )
        except ValueError:
            return wp_error(401, "rest_not_logged_in", "You are not currently logged in.")
        if user != self.username:
            return wp_error(401, "invalid_username", "Unknown username.")
        # WordPress strips the spaces it shows an application password with
        if password.replace(" ", "") != self.password.replace(" ", ""):
            return self.expired_response()
        if self.rejections:
            return self.rejections.pop(0)
        return None

    def expired_response(self) -> Response:
        """Application passwords do not expire, but a revoked one is simply unknown."""
        return wp_error(
            401, "incorrect_password", "The provided password is an invalid application password."
        )

    def _forbidden(self, request: Request, code: str, message: str) -> Response:
        """rest_authorization_required_code(): 401 for nobody, 403 for a user without the right."""
        return wp_error(403 if self.user(request) else 401, code, message)

    # --- routes -----------------------------------------------------------------------------

    def me(self, request: Request) -> Response:
        if not self.user(request):
            return wp_error(401, "rest_not_logged_in", "You are not currently logged in.")
        user: dict[str, Any] = {"id": 1, "name": self.username, "slug": self.username}
        if (request.query.get("context") or ["view"])[0] == "edit":
            user["roles"] = self.roles
            user["capabilities"] = dict.fromkeys(sorted(self.capabilities), True)
        return Response(200, user)

    def list_posts(self, request: Request) -> Response:
        status = (request.query.get("status") or ["publish"])[0]
        if status != "publish" and not self.user(request):
            return Response(
                400,
                {
                    "code": "rest_invalid_param",
                    "message": "Invalid parameter(s): status",
                    "data": {
                        "status": 400,
                        "params": {"status": "Status is forbidden."},
                        "details": {
                            "status": {
                                "code": "rest_forbidden_status",
                                "message": "Status is forbidden.",
                                "data": {"status": 401},
                            }
                        },
                    },
                },
            )
        slug = (request.query.get("slug") or [None])[0]
        found = [
            p
            for p in self.posts.values()
            if (slug is None or p["slug"] == slug) and (status == "any" or p["status"] == status)
        ]
        return Response(200, [self._public(p) for p in found])

    def create_post(self, request: Request) -> Response:
        if not self.user(request):
            return self._forbidden(
                request,
                "rest_cannot_create",
                "Sorry, you are not allowed to create posts as this user.",
            )
        body = request.json
        if not isinstance(body, dict):
            return wp_error(400, "rest_invalid_json", "Invalid JSON body passed.")
        status = body.get("status", "draft")
        if status not in STATUSES:
            return wp_error(400, "rest_invalid_param", "Invalid parameter(s): status")
        if status == "publish" and "publish_posts" not in self.capabilities:
            return self._forbidden(
                request,
                "rest_cannot_publish",
                "Sorry, you are not allowed to publish posts in this post type.",
            )
        post_id = self._next()
        media = int(body.get("featured_media") or 0)
        post = {
            "id": post_id,
            "status": status,
            "slug": self._unique_slug(str(body.get("slug") or f"post-{post_id}")),
            "title": str(body.get("title", "")),
            "content": str(body.get("content", "")),
            "featured_media": media if media in self.media and not self.drop_featured else 0,
            "categories": body.get("categories", [1]),
            "link": f"{self.url}/?p={post_id}",
        }
        self.posts[post_id] = post
        return Response(201, self._public(post))

    def get_post(self, request: Request) -> Response:
        post = self.posts.get(int(request.match["id"]))
        if post is None:
            return wp_error(404, "rest_post_invalid_id", "Invalid post ID.")
        return Response(200, self._public(post))

    def update_post(self, request: Request) -> Response:
        post = self.posts.get(int(request.match["id"]))
        if post is None:
            return wp_error(404, "rest_post_invalid_id", "Invalid post ID.")
        if not self.user(request):
            return self._forbidden(
                request, "rest_cannot_edit", "Sorry, you are not allowed to edit this post."
            )
        body = request.json or {}
        if "featured_media" in body:
            media = int(body["featured_media"] or 0)
            if media and media not in self.media:
                return wp_error(400, "rest_invalid_featured_media", "Invalid featured media ID.")
            post["featured_media"] = media
        return Response(200, self._public(post))

    def list_media(self, request: Request) -> Response:
        slug = (request.query.get("slug") or [None])[0]
        found = [m for m in self.media.values() if slug is None or m["slug"] == slug]
        return Response(200, found)

    def upload(self, request: Request) -> Response:
        if "upload_files" not in self.capabilities or not self.user(request):
            return self._forbidden(
                request,
                "rest_cannot_create",
                "Sorry, you are not allowed to upload media on this site.",
            )
        if not request.body:
            return wp_error(400, "rest_upload_no_data", "No data supplied.")
        disposition = request.header("content-disposition") or ""
        if not disposition:
            return wp_error(
                400, "rest_upload_no_content_disposition", "No Content-Disposition supplied."
            )
        match = re.search(r'filename="?([^";]+)"?', disposition)
        if not match:
            return wp_error(
                400, "rest_upload_invalid_disposition", "Invalid Content-Disposition supplied."
            )
        filename = match.group(1)
        kind = IMAGE_TYPES.get(filename.rsplit(".", 1)[-1].lower())
        if kind is None or (request.header("content-type") or "") != kind:
            return wp_error(
                500,
                "rest_upload_sideload_error",
                "Sorry, you are not allowed to upload this file type.",
            )
        media_id = self._next()
        self.uploads[media_id] = request.body
        self.media[media_id] = {
            "id": media_id,
            "slug": filename.rsplit(".", 1)[0].lower(),
            "status": "inherit",
            "alt_text": "",
            "mime_type": kind,
            "source_url": f"{self.url}/wp-content/uploads/{filename}",
        }
        return Response(201, self.media[media_id])

    def get_media(self, request: Request) -> Response:
        media = self.media.get(int(request.match["id"]))
        if media is None:
            return wp_error(404, "rest_post_invalid_id", "Invalid post ID.")
        return Response(200, media)

    def update_media(self, request: Request) -> Response:
        media = self.media.get(int(request.match["id"]))
        if media is None:
            return wp_error(404, "rest_post_invalid_id", "Invalid post ID.")
        if not self.user(request):
            return self._forbidden(
                request, "rest_cannot_edit", "Sorry, you are not allowed to edit this post."
            )
        body = request.json or {}
        for key in ("alt_text", "slug", "caption", "title"):
            if key in body:
                media[key] = str(body[key])
        return Response(200, media)

    # --- internals --------------------------------------------------------------------------

    def _next(self) -> int:
        self.next_id += 1
        return self.next_id

    def _unique_slug(self, slug: str) -> str:
        taken = {p["slug"] for p in self.posts.values()}
        candidate, n = slug, 2
        while candidate in taken:
            candidate, n = f"{slug}-{n}", n + 1
        return candidate

    def _public(self, post: dict[str, Any]) -> dict[str, Any]:
        return {
            **post,
            "title": {"raw": post["title"], "rendered": post["title"]},
            "content": {"raw": post["content"], "rendered": post["content"], "protected": False},
        }

    # method-specific faults: path="POST /wp/v2/posts" strikes only that method

    def _handle(self, http: Any) -> None:
        self._local.method = http.command
        super()._handle(http)

    def _take_fault(self, path: str) -> Fault | None:
        method = getattr(self._local, "method", "")
        with self._lock:
            for fault in list(self.faults):
                want = fault.path or ""
                if " " in want:
                    verb, _, want = want.partition(" ")
                    if verb != method:
                        continue
                if want in path:
                    self.faults.remove(fault)
                    return fault
        return None
