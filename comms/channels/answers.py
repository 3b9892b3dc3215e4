"""Reading values out of a service's answer: each checked for type, length and range first.

An answer is untrusted input. A service (or a proxy in front of it, or an attacker on the path)
can send an id that is a list, a URL that is `javascript:`, a count that is `true`, negative or
10**30, or a megabyte of text where an id belongs; stored as it came, such a value breaks a
report, a page or a later call. So every adapter reads receipts and figures through these
functions, and a value of the wrong shape raises `MalformedAnswer`, which the queue turns into
`unknown` after a post was sent (never a resend on a channel without idempotency).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from comms.channels.base import Figures, Receipt
from comms.errors import MalformedAnswer

MAX_ID = 500  # the column's size; Graph "123_456", an AT URI, a LinkedIn URN: all far shorter
MAX_URL = 2000  # the column's size, and about what browsers and servers take
MAX_COUNT = 10**12  # more views than people on Earth many times over: not a real figure
_ID = re.compile(r"^[!-~]+$")  # printable ASCII without spaces: no control or markup tricks


def _where(key: str, what: str) -> str:
    return f"{what}: the answer's {key!r}" if what else f"the answer's {key!r}"


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"text of {len(value)} characters"
    return type(value).__name__


def obj(value: Any, *, what: str = "") -> Mapping[str, Any]:
    """The answer itself, which must be a JSON object."""
    if not isinstance(value, Mapping):
        raise MalformedAnswer(f"{what or 'service'}: the answer is {_kind(value)}, not an object")
    return value


def id_value(value: Any, *, key: str = "id", what: str = "") -> str:
    """An id: text (or a whole number) of 1 to MAX_ID printable characters without spaces."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**30:
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID or not _ID.match(value):
        raise MalformedAnswer(f"{_where(key, what)} is {_kind(value)}, not an id")
    return value


def str_field(
    body: Any, key: str, *, max_len: int = MAX_ID, what: str = "", required: bool = True
) -> str | None:
    """`body[key]` as text of at most `max_len` characters; None when absent and not required."""
    value = obj(body, what=what).get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise MalformedAnswer(f"{_where(key, what)} is {_kind(value)}, not text")
    return value


def id_field(body: Any, key: str = "id", *, what: str = "") -> str:
    """`body[key]` as an id (see `id_value`)."""
    return id_value(obj(body, what=what).get(key), key=key, what=what)


def url_value(value: Any) -> str | None:
    """An http(s) URL of at most MAX_URL characters, or None for anything else.

    A link is a convenience on a receipt: a bad one is dropped rather than failing a post the
    service has taken (the id still proves it)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL:
        return None
    if any(ord(c) < 0x21 or c == "\x7f" for c in value):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def url_field(body: Any, key: str = "url", *, what: str = "") -> str | None:
    """`body[key]` as a URL (see `url_value`); None when absent or not an http(s) URL."""
    return url_value(obj(body, what=what).get(key))


def count_value(value: Any, *, key: str = "count", what: str = "") -> int | None:
    """A count: a whole number (not a bool) in 0..MAX_COUNT; None stays None (no figure).

    A float with no fraction is taken (some services send 12.0); anything else raises."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise MalformedAnswer(f"{_where(key, what)} is {_kind(value)}, not a count")
    return value


def count_field(body: Any, key: str, *, what: str = "") -> int | None:
    """`body[key]` as a count (see `count_value`)."""
    return count_value(obj(body, what=what).get(key), key=key, what=what)


def checked_receipt(receipt: Any, *, what: str = "") -> Receipt:
    """A Receipt whose id is an id and whose URL is an http(s) URL (else dropped)."""
    if not isinstance(receipt, Receipt):
        raise MalformedAnswer(f"{what or 'adapter'}: returned {_kind(receipt)}, not a receipt")
    external_id = id_value(receipt.external_id, key="id", what=what)
    url = url_value(receipt.url) if receipt.url is not None else None
    if external_id == receipt.external_id and url == receipt.url:
        return receipt
    return Receipt(external_id=external_id, url=url)


def checked_figures(figures: Any, *, what: str = "") -> Figures:
    """Figures whose every count is a count (see `count_value`); raw must be an object."""
    if not isinstance(figures, Figures):
        raise MalformedAnswer(f"{what or 'adapter'}: returned {_kind(figures)}, not figures")
    for key in ("reach", "impressions", "engagements", "clicks"):
        count_value(getattr(figures, key), key=key, what=what)
    if not isinstance(figures.raw, dict):
        raise MalformedAnswer(f"{what or 'adapter'}: the raw figures are not an object")
    return figures
