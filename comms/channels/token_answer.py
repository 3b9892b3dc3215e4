"""What a service's refusal says of the token: expired (a refresh helps) or revoked (it does not).

A 401 on a stored token used to mean "refresh once and try again". That is right for a token
that ran out, and wrong for one the account holder revoked, whose password changed, or whose
app was removed: the refresh token is then dead too (or, where it is not, spending it only
hides that a person must connect the channel again). Each service says which in its own way:

- LinkedIn: `serviceErrorCode` 65600 (invalid), 65601 (revoked), 65602 (expired), or its message.
- Facebook/Instagram Graph: code 190 with `error_subcode` 463 (expired); 458 (app removed),
  459 (checkpoint), 460 (password changed), 464 (unconfirmed user), 467 (invalid) are revoked.
- Mastodon (and any RFC 6750 service, through HttpClient's default mapping):
  `WWW-Authenticate: Bearer error="invalid_token", error_description="The access
  token expired"` (or "… was revoked", "… is invalid"), or the JSON `error` text.
- Bluesky: the XRPC error `ExpiredToken` versus `InvalidToken`.
- X: mostly a bare `Unauthorized`; only words that say revoked or expired count.

The answer is untrusted input: only a bounded prefix of the body and of the header is read,
and anything unreadable is `None`, which the caller treats as today (refresh once).
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests

EXPIRED = "expired"
REVOKED = "revoked"
MAX_BODY = 64 * 1024
MAX_HEADER = 2000

LINKEDIN_CODES = {65600: REVOKED, 65601: REVOKED, 65602: EXPIRED}
GRAPH_SUBCODES = {
    463: EXPIRED,
    458: REVOKED,
    459: REVOKED,
    460: REVOKED,
    464: REVOKED,
    467: REVOKED,
}
_PARAM = re.compile(r'([A-Za-z_]{1,40})\s*=\s*"([^"]{0,500})"')
_REVOKED_WORDS = ("revoked", "invalidated", "password", "deauthori", "logged out", "removed")


def body_of(response: requests.Response) -> Any:
    """The JSON body from the first MAX_BODY bytes, or None (not JSON, too deep, cut off)."""
    try:
        raw = response.content[:MAX_BODY]
        return json.loads(raw.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError, TypeError):
        return None


def bearer_params(response: requests.Response) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer …` challenge (RFC 6750), bounded."""
    header = str(response.headers.get("WWW-Authenticate") or "")[:MAX_HEADER]
    if not header.lower().startswith("bearer"):
        return {}
    return {k.lower(): v for k, v in _PARAM.findall(header)}


def by_words(text: str, *, invalid_is_revoked: bool) -> str | None:
    """A verdict from a message's words, if they say one."""
    lowered = text[:MAX_HEADER].lower()
    if any(word in lowered for word in _REVOKED_WORDS):
        return REVOKED
    if "expired" in lowered:
        return EXPIRED
    if invalid_is_revoked and "invalid" in lowered:
        return REVOKED
    return None


def _text(value: Any) -> str:
    return value[:MAX_HEADER] if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    return None


def linkedin(response: requests.Response) -> str | None:
    body = body_of(response)
    if not isinstance(body, dict):
        return None
    verdict = LINKEDIN_CODES.get(_int(body.get("serviceErrorCode")) or 0)
    return verdict or by_words(_text(body.get("message")), invalid_is_revoked=True)


def graph(code: int | None, subcode: int | None, message: str) -> str | None:
    if code == 102:
        return EXPIRED  # the session behind the token ended
    if code != 190:
        return None
    verdict = GRAPH_SUBCODES.get(subcode or 0)
    return verdict or by_words(message, invalid_is_revoked=False)


def bearer(response: requests.Response) -> str | None:
    """RFC 6750's challenge, or the JSON `error` text (Mastodon's 401s); "invalid" is final:
    such a service does not say "invalid" of a token that merely ran out."""
    params = bearer_params(response)
    words = params.get("error_description", "")
    if not words:
        body = body_of(response)
        words = _text(body.get("error")) if isinstance(body, dict) else ""
    return by_words(words, invalid_is_revoked=True)


def x(response: requests.Response) -> str | None:
    params = bearer_params(response)
    body = body_of(response)
    words = params.get("error_description", "")
    if isinstance(body, dict):
        words += " " + " ".join(
            _text(body.get(k)) for k in ("error_description", "detail", "message")
        )
    return by_words(words, invalid_is_revoked=False)


def bluesky(name: Any) -> str | None:
    if name == "ExpiredToken":
        return EXPIRED
    if name == "InvalidToken":
        return REVOKED
    return None
