"""The site channel: pages, index and an Atom feed that a real feed reader (feedparser) accepts."""

from __future__ import annotations

import calendar
import json
import multiprocessing
import re
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest

from comms.channels.base import OutgoingPost, Receipt
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.channels.site import SiteChannel, linkify, slugify, state_folder_of
from comms.errors import RejectedError, TransientError
from tests.channels import factory

PICTURE = factory.picture_bytes("PNG")

BASE = "https://www.aalborg.dk/tryg/"
WINTER = datetime(2019, 1, 14, 19, 59, tzinfo=UTC)  # 20.59 in Copenhagen (+01:00)
SUMMER = datetime(2019, 6, 3, 8, 30, tzinfo=UTC)  # 10.30 in Copenhagen (+02:00)


def make_channel(folder: Path, clock: datetime | None = None, **options: object) -> SiteChannel:
    settings = ChannelSettings(
        name="hjemmeside", type="site", options={"path": str(folder), **options}
    )
    if clock is None:
        return SiteChannel(settings)
    return SiteChannel(settings, clock=lambda: clock)


def make_post(post_id: int = 1, **fields: object) -> OutgoingPost:
    values: dict[str, object] = {
        "idempotency_key": str(uuid.uuid5(uuid.NAMESPACE_OID, f"post-{post_id}")),
        "channel": "hjemmeside",
        "title": f"Nyhed nummer {post_id}",
        "text": f"Tekst til nyhed {post_id}.",
    }
    values.update(fields)
    return OutgoingPost(post_id=post_id, **values)  # type: ignore[arg-type]


def read_feed(folder: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse((folder / "feed.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def entries_json(folder: Path) -> list[dict[str, object]]:
    """The channel's own list, from its state folder (never the published one)."""
    assert not (folder / "entries.json").exists()
    path = state_folder_of(folder) / "entries.json"
    return json.loads(path.read_text(encoding="utf-8"))["entries"]


class PageOutline(HTMLParser):
    """Tags of a page, its lang, title and images, and whether every tag was closed in order."""

    VOID = frozenset({"meta", "link", "img", "br", "hr", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self.balanced = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.text[self.stack[-1]] = self.text.get(self.stack[-1], "") + data

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def outline(path: Path) -> PageOutline:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    parser = PageOutline()
    parser.feed(text)
    parser.close()
    assert parser.balanced
    assert not parser.stack
    return parser


def test_registry_builds_the_site_channel(tmp_path: Path) -> None:
    settings = ChannelSettings(name="hjemmeside", type="site", options={"path": str(tmp_path)})
    channel = create_channel(settings)
    assert isinstance(channel, SiteChannel)
    assert channel.idempotent
    assert not channel.has_metrics


def test_feed_is_valid_atom_with_entries_newest_first(tmp_path: Path) -> None:
    times = [WINTER, WINTER + timedelta(days=1), SUMMER]
    posts = [make_post(i) for i in (1, 2, 3)]
    receipts = [
        make_channel(tmp_path, t, base_url=BASE, site_title="Tryg Aalborg").publish(p)
        for t, p in zip(times, posts, strict=True)
    ]

    feed = read_feed(tmp_path)
    assert feed.feed.title == "Tryg Aalborg"
    assert feed.feed.id.startswith("urn:uuid:")
    assert {link.rel: link.href for link in feed.feed.links}["self"] == BASE + "feed.xml"
    assert [e.title for e in feed.entries] == ["Nyhed nummer 3", "Nyhed nummer 2", "Nyhed nummer 1"]
    assert [e.id for e in feed.entries] == [f"urn:uuid:{p.idempotency_key}" for p in posts[::-1]]
    assert [e.link for e in feed.entries] == [r.url for r in receipts[::-1]]
    assert all(e.author == "Tryg Aalborg" for e in feed.entries)
    # published in the site's zone, with the offset of that day; the instant is the same
    assert feed.entries[0].published == "2019-06-03T10:30:00+02:00"
    assert feed.entries[2].published == "2019-01-14T20:59:00+01:00"
    assert calendar.timegm(feed.entries[2].published_parsed) == WINTER.timestamp()
    assert feed.feed.updated == "2019-06-03T10:30:00+02:00"


def test_receipt_names_the_page_and_its_public_url(tmp_path: Path) -> None:
    receipt = make_channel(tmp_path, WINTER, base_url="https://example.dk/nyt").publish(make_post())
    assert receipt.external_id.startswith("news/2019/nyhed-nummer-1-")
    assert receipt.external_id.endswith(".html")
    assert receipt.url == "https://example.dk/nyt/" + receipt.external_id
    assert (tmp_path / receipt.external_id).is_file()
    # without base_url the links are relative to the folder
    other = make_channel(tmp_path / "rel", WINTER).publish(make_post())
    assert other.url == other.external_id


def test_page_is_accessible_html_with_danish_date_and_links(tmp_path: Path) -> None:
    text = "Kom til tryghedsvandring i Vejgaard.\nVi mødes kl. 18.\n\nLæs https://aalborg.dk/tryg."
    post = make_post(7, title="Tryg i Ålborg – før festen", text=text, link="https://x.dk/a")
    receipt = make_channel(tmp_path, WINTER).publish(post)
    page = outline(tmp_path / receipt.external_id)

    assert page.attrs("html") == [{"lang": "da"}]
    assert page.text["title"] == "Tryg i Ålborg – før festen – Nyheder"
    assert page.text["h1"] == "Tryg i Ålborg – før festen"
    assert page.text["time"] == "14. januar 2019"
    assert page.attrs("time")[0]["datetime"] == "2019-01-14T20:59:00+01:00"
    hrefs = [a["href"] for a in page.attrs("a")]
    assert "../../index.html" in hrefs
    assert "https://aalborg.dk/tryg" in hrefs  # the sentence's full stop is not part of the URL
    assert "https://x.dk/a" in hrefs
    assert len(page.attrs("p")) >= 3
    assert "tryg-i-aalborg-foer-festen-" in receipt.external_id


def test_index_lists_every_entry_newest_first(tmp_path: Path) -> None:
    make_channel(tmp_path, WINTER).publish(make_post(1, title="Først"))
    make_channel(tmp_path, SUMMER).publish(make_post(2, title="Senere"))
    index = outline(tmp_path / "index.html")
    assert index.attrs("html") == [{"lang": "da"}]
    links = [a["href"] for a in index.attrs("a") if (a["href"] or "").startswith("news/")]
    assert links == [e["html_path"] for e in entries_json(tmp_path)]
    assert "Senere" in (tmp_path / "index.html").read_text().split("Først")[0]


def test_danish_characters_survive_page_feed_and_state(tmp_path: Path) -> None:
    post = make_post(title="Æblefest på Østerå", text="Blåbær, rødgrød og ærter. Ünïcødé ✓")
    receipt = make_channel(tmp_path, WINTER).publish(post)
    feed = read_feed(tmp_path)
    assert feed.entries[0].title == "Æblefest på Østerå"
    assert "Blåbær, rødgrød og ærter. Ünïcødé ✓" in feed.entries[0].content[0].value
    assert "Æblefest på Østerå" in (tmp_path / receipt.external_id).read_text(encoding="utf-8")
    assert entries_json(tmp_path)[0]["title"] == "Æblefest på Østerå"
    assert "aeblefest-paa-oesteraa-" in receipt.external_id


def test_markup_in_title_and_text_is_escaped_in_page_and_feed(tmp_path: Path) -> None:
    title = "<script>alert('x')</script> & venner"
    post = make_post(title=title, text='Se <img src=x onerror="alert(1)"> & mere')
    receipt = make_channel(tmp_path, WINTER).publish(post)
    page = (tmp_path / receipt.external_id).read_text(encoding="utf-8")
    raw_feed = (tmp_path / "feed.xml").read_text(encoding="utf-8")
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    for document in (page, raw_feed, index):
        assert "<script>" not in document
        assert "<img src=x" not in document
    assert "&lt;script&gt;" in page
    parsed = outline(tmp_path / receipt.external_id)
    assert parsed.text["h1"] == title
    assert not parsed.attrs("script")
    assert parsed.attrs("img") == []
    feed = read_feed(tmp_path)
    assert feed.entries[0].title == title
    assert feed.entries[0].content[0].type == "text/html"
    assert "&lt;img src=x" in feed.entries[0].content[0].value


def test_publishing_again_rewrites_the_same_page(tmp_path: Path) -> None:
    post = make_post(3)
    first = make_channel(tmp_path, WINTER).publish(post)
    edited = make_post(3, title="Ny titel", text="Rettet tekst.")
    second = make_channel(tmp_path, SUMMER).publish(edited)

    assert second == first
    entries = entries_json(tmp_path)
    assert len(entries) == 1
    assert len(list((tmp_path / "news").rglob("*.html"))) == 1
    feed = read_feed(tmp_path)
    assert len(feed.entries) == 1
    assert feed.entries[0].title == "Ny titel"
    assert feed.entries[0].published == "2019-01-14T20:59:00+01:00"  # first publication kept
    assert feed.entries[0].updated == "2019-06-03T10:30:00+02:00"
    assert "Rettet tekst." in (tmp_path / first.external_id).read_text(encoding="utf-8")


def test_image_is_copied_beside_the_page_with_its_alt_text(tmp_path: Path) -> None:
    image = tmp_path / "upload" / "Plakat.PNG"
    image.parent.mkdir()
    image.write_bytes(PICTURE)
    site = tmp_path / "site"
    alt = 'To betjente og en borger ved "Tryghedsbussen"'
    post = make_post(image_path=image, image_alt=alt)
    receipt = make_channel(site, WINTER, base_url=BASE).publish(post)

    page_path = site / receipt.external_id
    imgs = outline(page_path).attrs("img")
    assert len(imgs) == 1
    assert imgs[0]["alt"] == alt
    copied = page_path.parent / str(imgs[0]["src"])
    assert copied.parent.name == "media"
    assert copied.suffix == ".png"
    assert copied.read_bytes() == PICTURE
    content = read_feed(site).entries[0].content[0].value
    assert f'src="{BASE}news/2019/media/{copied.name}"' in content


def test_missing_image_is_rejected_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "findes-ikke.jpg"
    site = tmp_path / "site"
    with pytest.raises(RejectedError, match=re.escape(str(missing))):
        make_channel(site).publish(make_post(image_path=missing, image_alt="Et billede"))
    assert not (site / "entries.json").exists()
    assert not (state_folder_of(site) / "entries.json").exists()


def test_image_without_alt_text_is_rejected(tmp_path: Path) -> None:
    image = factory.picture(tmp_path, "foto.jpg")
    with pytest.raises(RejectedError, match="alt text"):
        make_channel(tmp_path / "site").publish(make_post(image_path=image))


def test_feed_keeps_only_the_newest_entries_but_the_index_keeps_all(tmp_path: Path) -> None:
    for i in range(1, 6):
        make_channel(tmp_path, WINTER + timedelta(hours=i), feed_entries=3).publish(make_post(i))
    feed = read_feed(tmp_path)
    assert [e.title for e in feed.entries] == [f"Nyhed nummer {i}" for i in (5, 4, 3)]
    assert len(entries_json(tmp_path)) == 5
    assert (tmp_path / "index.html").read_text(encoding="utf-8").count("<li>") == 5


def test_find_returns_the_receipt_of_an_earlier_publish(tmp_path: Path) -> None:
    channel = make_channel(tmp_path, WINTER, base_url=BASE)
    assert channel.find(make_post(1)) is None
    receipt = channel.publish(make_post(1))
    assert channel.find(make_post(1)) == receipt
    assert channel.find(make_post(2)) is None


def _publish_many(folder: str, worker: int, count: int) -> None:
    channel = make_channel(Path(folder), feed_entries=1000)
    for n in range(count):
        channel.publish(make_post(worker * 1000 + n))


def test_concurrent_publishers_lose_no_entry(tmp_path: Path) -> None:
    workers, count = 4, 10
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_publish_many, args=(str(tmp_path), w, count))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0

    expected = {
        make_post(w * 1000 + n).idempotency_key for w in range(workers) for n in range(count)
    }
    assert {e["id"] for e in entries_json(tmp_path)} == expected
    feed = read_feed(tmp_path)
    assert len(feed.entries) == workers * count
    assert len(list((tmp_path / "news").rglob("*.html"))) == workers * count
    assert not list(tmp_path.rglob("*.tmp"))


def test_check_creates_the_folder_and_reports_it(tmp_path: Path) -> None:
    folder = tmp_path / "ny" / "site"
    result = make_channel(folder).check()
    assert result.ok
    assert result.message == f"writes to {folder} (its state in {folder}-state)"
    assert folder.is_dir()
    assert (tmp_path / "ny" / "site-state").is_dir()


def test_no_folder_configured_is_rejected_with_a_hint() -> None:
    channel = SiteChannel(ChannelSettings(name="web", type="site", options={}))
    with pytest.raises(RejectedError, match=r"path = .*\[channels\.web\]"):
        channel.publish(make_post())
    with pytest.raises(RejectedError):
        channel.check()


def test_write_errors_are_transient_with_the_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    channel = make_channel(blocker / "site")
    with pytest.raises(TransientError, match="cannot write the site") as info:
        channel.publish(make_post())
    assert "Traceback" not in str(info.value)
    with pytest.raises(TransientError):
        channel.check()


def test_metrics_are_empty_for_a_static_site(tmp_path: Path) -> None:
    figures = make_channel(tmp_path).metrics(Receipt(external_id="news/2019/x.html"))
    assert figures.reach is None
    assert figures.clicks is None


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Tryg i Ålborg – før festen", "tryg-i-aalborg-foer-festen"),
        ("ÆØÅ æøå", "aeoeaa-aeoeaa"),
        ("Café Über", "cafe-uber"),
        ("!!!", "nyhed"),
        ("ord " * 40, ("ord-" * 15).rstrip("-")),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("Se https://a.dk/x.", 'Se <a href="https://a.dk/x">https://a.dk/x</a>.'),
        ("(https://a.dk)", '(<a href="https://a.dk">https://a.dk</a>)'),
        (
            "a&b https://a.dk/?q=1&r=2",
            'a&amp;b <a href="https://a.dk/?q=1&amp;r=2">https://a.dk/?q=1&amp;r=2</a>',
        ),
        ("<b>ingen link</b>", "&lt;b&gt;ingen link&lt;/b&gt;"),
    ],
)
def test_linkify(text: str, html: str) -> None:
    assert str(linkify(text)) == html


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"feed_entries": 0}, "feed_entries"),
        ({"feed_entries": "50"}, "feed_entries"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
    ],
)
def test_bad_options_are_rejected_before_writing(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(RejectedError, match=message):
        make_channel(tmp_path / "site", **options).publish(make_post())
    assert not (tmp_path / "site").exists()


def test_the_published_folder_holds_only_what_is_published(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_channel(site, WINTER, base_url=BASE).publish(make_post(1))
    published = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert published == {"index.html", "feed.xml", entries_json(site)[0]["html_path"]}
    state = tmp_path / "site-state"
    assert {p.name for p in state.iterdir()} == {"entries.json", "entries.lock"}


def test_a_configured_state_path_is_used(tmp_path: Path) -> None:
    site, state = tmp_path / "public", tmp_path / "data" / "site"
    make_channel(site, WINTER, state_path=str(state)).publish(make_post(1))
    assert (state / "entries.json").exists()
    assert not (tmp_path / "public-state").exists()
    assert not (site / "entries.json").exists()


def test_entries_json_of_an_earlier_version_moves_out_of_the_published_folder(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    make_channel(site, WINTER).publish(make_post(1))
    state = state_folder_of(site)
    # as versions before the state folder left it: the list and its lock in the public folder
    (state / "entries.json").rename(site / "entries.json")
    (site / ".entries.lock").write_text("", encoding="utf-8")
    assert make_channel(site).find(make_post(1)) is not None  # still known before the move
    make_channel(site, WINTER + timedelta(hours=1)).publish(make_post(2))
    assert not (site / "entries.json").exists()
    assert not (site / ".entries.lock").exists()
    assert {e["post_id"] for e in entries_json(site)} == {1, 2}
    assert [e.title for e in read_feed(site).entries] == ["Nyhed nummer 2", "Nyhed nummer 1"]
