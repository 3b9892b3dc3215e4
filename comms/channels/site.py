"""The `site` channel: publish posts as news pages of a static website, with an index and a feed.

The default channel, needing no credentials. The folder holds `news/<yyyy>/<slug>.html` (one page
a post, its image in `media/` beside it), `index.html` (newest first) and `feed.xml` (Atom 1.0):
only what is meant to be published. The adapter's own list of what it published
(`entries.json`, from which index and feed are rebuilt) and its lock file live in a state folder
outside it, `state_path` (default: `<path>-state` next to the folder), so a web server serving the
folder never serves them. An `entries.json` left in the folder by an earlier version is read
with it and moved out on the next publish. Every file is replaced atomically, and `entries.json` is
updated under the lock file, so processes publishing at the same time never lose an entry.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import DictLoader, Environment
from markupsafe import Markup

from comms.channels.atom import Feed, FeedEntry, render_feed, urn_uuid
from comms.channels.base import Channel, CheckResult, OutgoingPost, PreviewCard, Receipt
from comms.channels.files import copy_atomic, locked, write_atomic
from comms.channels.images import SCREEN_READERS, checked_image
from comms.channels.options import Option
from comms.channels.settings import ChannelSettings
from comms.content.danish import format_date
from comms.content.text import is_url, linkify
from comms.errors import RejectedError, TransientError

ENTRIES_FILE = "entries.json"
LOCK_FILE = "entries.lock"
OLD_LOCK_FILE = ".entries.lock"  # where versions before the state folder kept the lock

_HEAD = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page_title }}</title>
<link rel="alternate" type="application/atom+xml" title="{{ site_title }}"
 href="{{ root }}feed.xml">
</head>
<body>
<header><p><a href="{{ root }}index.html">{{ site_title }}</a></p></header>
<main>
"""
_FOOT = "</main>\n</body>\n</html>\n"
_TEMPLATES = {
    "page.html": _HEAD
    + """<article>
<h1>{{ e.title }}</h1>
<p><time datetime="{{ e.published }}">{{ date }}</time></p>
{{ body }}
</article>
<nav aria-label="Nyheder"><p><a href="{{ root }}index.html">Tilbage til alle nyheder</a></p></nav>
"""
    + _FOOT,
    "index.html": _HEAD
    + """<h1>{{ site_title }}</h1>
{% if items %}<ul>
{% for e, date in items %}<li>
<h2><a href="{{ e.html_path }}">{{ e.title }}</a></h2>
<p><time datetime="{{ e.published }}">{{ date }}</time></p>
<p>{{ e.summary }}</p>
</li>
{% endfor %}</ul>
{% else %}<p>Der er ingen nyheder endnu.</p>
{% endif %}<p><a href="feed.xml">Abonnér på nyhederne (Atom-feed)</a></p>
"""
    + _FOOT,
}
_JINJA = Environment(loader=DictLoader(_TEMPLATES), autoescape=True, keep_trailing_newline=True)

_DANISH = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "ae", "Ø": "oe", "Å": "aa"})


class SiteChannel(Channel):
    """News pages in a local folder. A static site has no figures, so `metrics()` stays empty."""

    name = "site"
    receipt_has_url = True
    idempotent = True  # the page's file name comes from post id + key: a re-send rewrites it
    has_metrics = False  # a static site counts no views, reach or clicks

    label = "Hjemmeside"
    title = "Hjemmesidens nyheder"
    preview = PreviewCard("article", "Nyhed på sitet")
    post_words = ("nyhed", "nyheder")
    options = (
        Option("path", str, "the folder the site is written to (needed to publish)"),
        Option("base_url", str, "public URL of that folder, for links in the feed", default=""),
        Option("site_title", str, "the site's title", default="Nyheder"),
        Option("author", str, "the feed's author; default: the site's title"),
        Option("language", str, "the pages' language (BCP 47)", default="da"),
        Option("timezone", str, "the zone times are shown in", default="Europe/Copenhagen"),
        Option("feed_entries", int, "newest entries kept in feed.xml", default=50),
        Option(
            "state_path",
            str,
            "where the list of published entries and its lock live; default: <path>-state",
        ),
    )

    def __init__(
        self, settings: ChannelSettings, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__(settings)
        self.clock = clock or (lambda: datetime.now(UTC))
        url = str(settings.get("base_url", "") or "")
        self.base_url = url if not url or url.endswith("/") else url + "/"
        self.site_title = str(settings.get("site_title", "Nyheder"))
        self.author = str(settings.get("author", self.site_title))
        self.language = str(settings.get("language", "da"))

    @classmethod
    def receipt_url_problem(cls, settings: ChannelSettings) -> str | None:
        """A page's address is base_url + its path: without an http(s) base_url, none to link."""
        url = str(settings.get("base_url", "") or "")
        if not url.lower().startswith(("http://", "https://")):
            return f"channel {settings.name!r} has no base_url (http:// or https://) for its pages"
        return None

    # -- options --------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        path = self.settings.get("path")
        if not path:
            raise RejectedError(
                f"channel {self.settings.name!r} has no folder to write to "
                f'(add path = "site" to [channels.{self.settings.name}])'
            )
        return Path(str(path)).expanduser().resolve()

    @property
    def state_folder(self) -> Path:
        """Where `entries.json` and the lock live: never inside the published folder."""
        return state_folder_of(self.folder, self.settings.get("state_path"))

    @property
    def zone(self) -> ZoneInfo:
        name = str(self.settings.get("timezone", "Europe/Copenhagen"))
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise RejectedError(
                f"channel {self.settings.name!r}: unknown timezone {name!r} "
                "(use an IANA name such as Europe/Copenhagen)"
            ) from None

    @property
    def feed_entries(self) -> int:
        value = self.settings.get("feed_entries", 50)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RejectedError(
                f"channel {self.settings.name!r}: feed_entries must be a "
                f"whole number of 1 or more, not {value!r}"
            )
        return value

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Write the post's page, then rebuild index and feed from the updated entry list."""
        folder, zone, limit = self.folder, self.zone, self.feed_entries
        if post.image_path is not None:
            checked_image(post, why=SCREEN_READERS)
        state = self.state_folder
        try:
            with locked(state / LOCK_FILE):
                entries = self._load(folder, state)
                entry = self._entry(post, entries.get(post.idempotency_key))
                page = folder / entry["html_path"]
                if post.image_path is not None:
                    copy_atomic(Path(post.image_path), page.parent / entry["image"])
                write_atomic(page, self._render_page(entry, zone))
                entries[entry["id"]] = entry
                self._write_all(folder, state, zone, entries, limit)
                _drop_old_state(folder)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            reason = f"cannot write the site in {folder}: {exc.strerror or exc}{where}"
            raise TransientError(reason) from None
        return self._receipt(entry)

    def find(self, post: OutgoingPost) -> Receipt | None:
        """The receipt of an earlier publish of this post (same idempotency key), if any."""
        state = self.state_folder
        try:
            with locked(state / LOCK_FILE):
                entry = self._load(self.folder, state).get(post.idempotency_key)
        except OSError as exc:
            raise TransientError(
                f"cannot read {state / ENTRIES_FILE}: {exc.strerror or exc}"
            ) from None
        return self._receipt(entry) if entry else None

    def check(self) -> CheckResult:
        """The folder and the state folder exist (or are created) and can be written in."""
        folder, state = self.folder, self.state_folder
        for where in (folder, state):
            try:
                where.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryFile(dir=where):
                    pass
            except OSError as exc:
                raise TransientError(f"cannot write in {where}: {exc.strerror or exc}") from None
        return CheckResult(True, f"writes to {folder} (its state in {state})")

    # -- entries ----------------------------------------------------------------------------

    def _receipt(self, entry: dict[str, Any]) -> Receipt:
        return Receipt(external_id=entry["html_path"], url=self.base_url + entry["html_path"])

    def _load(self, folder: Path, state: Path) -> dict[str, dict[str, Any]]:
        """Published entries by idempotency key (the caller holds the lock).

        An `entries.json` an earlier version left in the published folder is merged in (the
        state folder's entry wins for a key in both); `_drop_old_state` removes it once the
        state folder's copy is written.
        """
        entries = _read_entries(folder / ENTRIES_FILE)
        entries.update(_read_entries(state / ENTRIES_FILE))
        return entries

    def _entry(self, post: OutgoingPost, old: dict[str, Any] | None) -> dict[str, Any]:
        """The entry for the post; a re-publish keeps its page, image name and first date."""
        now = self.clock().astimezone(UTC)
        title = (post.title or "").strip() or _first_line(post.text)
        if old is None:
            local = now.astimezone(self.zone)
            digest = hashlib.sha256(f"{post.post_id}:{post.idempotency_key}".encode()).hexdigest()
            stem = f"{slugify(title)}-{digest[:8]}"
            html_path = f"news/{local.year:04d}/{stem}.html"
            published = now.isoformat(timespec="seconds")
        else:
            html_path, published = old["html_path"], old["published"]
            stem = Path(html_path).stem
        image = None
        if post.image_path is not None:
            image = f"media/{stem}{Path(post.image_path).suffix.lower()}"
        return {
            "id": post.idempotency_key,
            "post_id": post.post_id,
            "title": title,
            "html_path": html_path,
            "published": published,
            "updated": now.isoformat(timespec="seconds"),
            "summary": _summary(post.text),
            "text": post.text,
            "link": post.link,
            "image": image,
            "image_alt": post.image_alt,
        }

    def _write_all(
        self,
        folder: Path,
        state: Path,
        zone: ZoneInfo,
        entries: dict[str, dict[str, Any]],
        limit: int,
    ) -> None:
        ordered = sorted(
            entries.values(), key=lambda e: (e["published"], e["post_id"]), reverse=True
        )
        data = {"version": 1, "entries": ordered}
        write_atomic(state / ENTRIES_FILE, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
        items = [(_local(e, zone), format_date(_when(e["published"], zone))) for e in ordered]
        write_atomic(
            folder / "index.html",
            _JINJA.get_template("index.html").render(
                items=items,
                lang=self.language,
                page_title=self.site_title,
                site_title=self.site_title,
                root="",
            ),
        )
        write_atomic(folder / "feed.xml", self._render_feed(ordered[:limit], zone))

    # -- rendering --------------------------------------------------------------------------

    def _render_page(self, entry: dict[str, Any], zone: ZoneInfo) -> str:
        e = _local(entry, zone)
        return _JINJA.get_template("page.html").render(
            e=e,
            date=format_date(_when(entry["published"], zone)),
            body=_body(entry),
            lang=self.language,
            page_title=f"{e['title']} – {self.site_title}",
            site_title=self.site_title,
            root="../../",
        )

    def _render_feed(self, entries: list[dict[str, Any]], zone: ZoneInfo) -> bytes:
        base = self.base_url
        folder_id = base or self.folder.as_uri()
        feed = Feed(
            id=urn_uuid(f"site:{folder_id}"),
            title=self.site_title,
            self_url=base + "feed.xml",
            site_url=base + "index.html",
            author=self.author,
            language=self.language,
        )
        items = [
            FeedEntry(
                id=urn_uuid(e["id"]),
                title=e["title"],
                link=base + e["html_path"],
                published=_when(e["published"], zone),
                updated=_when(e["updated"], zone),
                summary=e["summary"],
                content_html=_body(e, base + str(Path(e["html_path"]).parent) + "/"),
            )
            for e in entries
        ]
        return render_feed(feed, items)


def state_folder_of(folder: Path, configured: object = None) -> Path:
    """`state_path` when configured, else `<folder>-state` beside the published folder."""
    if configured:
        return Path(str(configured)).expanduser().resolve()
    return folder.with_name(f"{folder.name}-state")


def _read_entries(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of one `entries.json` by idempotency key; none when it does not exist."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise TransientError(
            f"{path} is not valid JSON ({exc}): restore or remove it, "
            "then publish again to rebuild index and feed"
        ) from None
    return {entry["id"]: entry for entry in data.get("entries", [])}


def _drop_old_state(folder: Path) -> None:
    """Remove what versions before the state folder kept in the published folder."""
    (folder / ENTRIES_FILE).unlink(missing_ok=True)
    (folder / OLD_LOCK_FILE).unlink(missing_ok=True)


def slugify(title: str, limit: int = 60) -> str:
    """'Tryg i Ålborg – før festen' -> 'tryg-i-aalborg-foer-festen' (ASCII, hyphens, short)."""
    text = unicodedata.normalize("NFKD", title.translate(_DANISH).lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0] if "-" in slug[:limit] else slug[:limit]
    return slug or "nyhed"


def _body(entry: dict[str, Any], prefix: str = "") -> Markup:
    """The article's markup: image, then paragraphs (blank lines) with line breaks and links."""
    parts = []
    if entry.get("image"):
        parts.append(
            f'<figure><img src="{escape(prefix + entry["image"])}" '
            f'alt="{escape(entry.get("image_alt") or "")}"></figure>'
        )
    for block in re.split(r"\n\s*\n", entry["text"].strip()):
        if block.strip():
            lines = [linkify(line.strip()) for line in block.strip().splitlines()]
            parts.append("<p>" + "<br>\n".join(lines) + "</p>")
    link = entry.get("link")
    if link and link not in entry["text"] and is_url(link):
        parts.append(f'<p>Læs mere: <a href="{escape(link)}">{escape(link)}</a></p>')
    return Markup("\n".join(parts))


def _when(stamp: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(stamp).astimezone(zone)


def _local(entry: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The entry with its published time shown in the site's zone (for <time datetime>)."""
    return {**entry, "published": _when(entry["published"], zone).isoformat(timespec="seconds")}


def _first_line(text: str, limit: int = 80) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "Nyhed")
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + "…"


def _summary(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rsplit(" ", 1)[0] + "…"
