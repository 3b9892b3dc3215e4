"""Keeping secrets out of text: every form a secret takes on its way into a message.

A token reaches an error message in more shapes than the one in the environment: percent-encoded
in a URL a library quotes back (`a|b` is `a%7Cb`), JSON-escaped in a body a service echoes
(`a/b` is `a\\/b`, `æ` is `\\u00e6`), or cut in half when a reason is truncated. So a scrubber
replaces each of these forms, longest first, and callers scrub *before* they truncate: a cut
secret no longer matches any form.

A webhook URL with a token in its path or query is a secret as a whole; people see it as
`https://host/…` (`redact_url`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit

from comms.channels.settings import ChannelSettings

MIN_SECRET = 4  # shorter values would replace ordinary words; no real secret is this short
MASK = "***"


def secret_forms(secret: str) -> set[str]:
    """The secret as it is, percent-encoded (both ways) and JSON-escaped (each escaping), and
    without its spaces (WordPress shows application passwords in groups; either form works)."""
    if " " in secret:
        return secret_forms(secret.replace(" ", "")) | _forms(secret)
    return _forms(secret)


def _forms(secret: str) -> set[str]:
    escaped = json.dumps(secret)[1:-1]  # \uXXXX for anything not ASCII, \" and \\
    unicode = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        escaped,
        unicode,
        escaped.replace("/", "\\/"),
        unicode.replace("/", "\\/"),
        _upper_hex_escapes(escaped),
    }
    return {form for form in forms if len(form) >= MIN_SECRET}


def _upper_hex_escapes(text: str) -> str:
    r"""`\u00e6` as `\u00E6`: JSON allows either case and some encoders write upper case."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("\\u", i) and i + 6 <= len(text):
            out.append("\\u" + text[i + 2 : i + 6].upper())
            i += 6
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


_remembered: set[str] = set()
_remembered_forms: list[str] = []


def remember_secrets(values: Iterable[str]) -> None:
    """Secrets learnt while running (a stored token opened, a refreshed one received): every
    Scrubber of this process masks them from then on, the log's included."""
    global _remembered_forms
    fresh = [v for v in values if v and len(v) >= MIN_SECRET and v not in _remembered]
    if not fresh:
        return
    _remembered.update(fresh)
    forms: set[str] = set(_remembered_forms)
    for value in fresh:
        forms |= secret_forms(value)
    _remembered_forms = sorted(forms, key=len, reverse=True)


class Scrubber:
    """Replaces every form of every known secret with `***`, and of every secret the process
    has remembered (`remember_secrets`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [s for s in dict.fromkeys(secrets) if s and len(s) >= MIN_SECRET]
        forms: set[str] = set()
        for secret in self.secrets:
            forms |= secret_forms(secret)
        self.forms = sorted(forms, key=len, reverse=True)  # a longer form may contain a shorter

    def __call__(self, text: str) -> str:
        for forms in (self.forms, _remembered_forms):
            for form in forms:
                if form in text:
                    text = text.replace(form, MASK)
        return text

    def cut(self, text: str, limit: int) -> str:
        """Scrubbed, then at most `limit` characters: never half a secret."""
        return self(text)[:limit]


def redact_url(url: str) -> str:
    """`scheme://host[:port]/…` when the URL has a path or query (it may carry a token), else
    `scheme://host[:port]`; user and password in the URL are never shown."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment
    return origin + "/…" if hidden else origin


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may carry a token: the whole URL, its path+query, its query,
    and each path segment or query value long enough to be one (a Slack hook's last segment;
    shorter segments such as `services` would mask ordinary words)."""
    if not url:
        return []
    parts = urlsplit(url)
    pieces = [url, parts.path + ("?" + parts.query if parts.query else ""), parts.query]
    pieces += [segment for segment in parts.path.split("/") if len(segment) >= 16]
    pieces += [
        value for pair in parts.query.split("&") if len(value := pair.partition("=")[2]) >= 8
    ]
    if parts.password:
        pieces.append(parts.password)
    return [piece for piece in pieces if len(piece) > 1 and piece not in ("/",)]


def channel_secrets(settings: ChannelSettings, secret_url_keys: Iterable[str] = ()) -> list[str]:
    """What one channel must never show: the values of its `*_env` variables and the secret
    parts of the URLs under `secret_url_keys` (a webhook's `url`)."""
    values = [os.environ.get(var, "") for var in settings.secret_env_names()]
    for key in secret_url_keys:
        values += url_secrets(str(settings.get(key) or ""))
    return [value for value in values if value and len(value) >= MIN_SECRET]
