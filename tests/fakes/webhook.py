"""A fake webhook relay (as an intranet, Teams or Slack bridge would run one) on 127.0.0.1.

It checks what a careful relay checks: JSON content type, the HMAC-SHA256 signature over the raw
body (`X-Comms-Signature: sha256=<hex>`, 401 otherwise), a timestamp no older than five minutes
(401), an `Idempotency-Key` equal to the body's key (400), the required fields (400) and a text
limit (413, Slack's 40,000 characters). It dedupes on the key: a repeat answers with the first
delivery's id and is not stored again. Deliveries are kept in `deliveries`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

REQUIRED = ("id", "idempotency_key", "channel", "title", "text", "link", "image_alt")


class FakeRelay(FakeServer):
    """POST /hooks/comms: verify, dedupe, keep."""

    path = "/hooks/comms/T0K3N-in-path"

    def __init__(self, secret: str, *, max_text: int = 40_000, max_age: float = 300) -> None:
        super().__init__()
        self.secret = secret
        self.max_text = max_text
        self.max_age = max_age
        self.deliveries: list[dict[str, Any]] = []
        self.by_key: dict[str, str] = {}
        self.route("POST", self.path, self.receive)
        self.route("GET", self.path, lambda r: Response(405, {"error": "use POST"}))

    @property
    def hook_url(self) -> str:
        return self.url + self.path

    def receive(self, request: Request) -> Response:
        if not (request.header("content-type") or "").startswith("application/json"):
            return Response(415, {"error": "expected application/json"})
        stamp = request.header("x-comms-timestamp") or ""
        try:
            sent = float(stamp)
        except ValueError:
            return Response(401, {"error": "no timestamp"})
        signed = stamp.encode() + b"." + request.body
        expected = "sha256=" + hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.header("x-comms-signature") or "", expected):
            return Response(401, {"error": "bad signature"})
        if abs(time.time() - sent) > self.max_age:
            return Response(401, {"error": "stale timestamp"})
        try:
            body = json.loads(request.body)
        except ValueError:
            return Response(400, {"error": "body is not JSON"})
        missing = [key for key in REQUIRED if key not in body]
        if missing:
            return Response(400, {"error": f"missing fields: {', '.join(missing)}"})
        key = request.header("idempotency-key")
        if key != body["idempotency_key"]:
            return Response(400, {"error": "Idempotency-Key does not match the body"})
        if len(body["text"] or "") > self.max_text:
            return Response(413, {"error": f"text longer than {self.max_text} characters"})
        if key in self.by_key:
            return Response(200, {"id": self.by_key[key], "duplicate": True})
        delivery_id = f"msg-{len(self.deliveries) + 1}"
        self.by_key[key] = delivery_id
        self.deliveries.append({"body": body, "raw": request.body, "headers": request.headers})
        return Response(202, {"id": delivery_id, "url": f"{self.url}/messages/{delivery_id}"})

    def reset(self) -> None:
        """Forget requests, faults and deliveries (one relay serves many tests)."""
        super().reset()
        self.deliveries.clear()
        self.by_key.clear()
