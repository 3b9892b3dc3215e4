"""Composing a one-off post through the workspace: channels by organisation, counts as each
channel counts, an uploaded image checked by its content, drafts or a submission."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image
from sqlmodel import select

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import Post


def future_day() -> str:
    return (datetime.now(UTC) + timedelta(days=10)).date().isoformat()


def png(size: tuple[int, int] = (40, 30), extra: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue() + extra


def posts(settings: Settings) -> list[Post]:
    with session_scope(settings.database_url) as session:
        return list(session.exec(select(Post).order_by(Post.id)).all())


def compose(browser, fields: dict, files=None):  # type: ignore[no-untyped-def]
    data = {"csrf_token": browser.token, **fields}
    return browser.http.post(
        "/compose", data=data, files=files, headers={"origin": "http://localhost"}
    )


def test_an_editor_composes_one_story_for_two_channels_and_submits(client, site: Settings):
    eva = client("eva")
    page = eva.get("/compose").text
    assert 'value="kommune-x"' in page
    assert 'value="politi-facebook"' not in page  # another organisation's channel
    response = compose(
        eva,
        {
            "text": "Blå Mandag: gå hjem sammen. https://www.aalborg.dk/tryg",
            "channel": ["kommune-facebook", "kommune-x"],
            "when": "time",
            "date": future_day(),
            "time": "09:30",
            "action": "submit",
        },
    )
    assert response.status_code == 303, response.text
    made = posts(site)
    assert [p.channel for p in made] == ["kommune-facebook", "kommune-x"]
    assert {p.story for p in made} == {made[0].story}
    assert made[0].story
    assert all(p.author == "eva" and p.state == "draft" and p.submitted_at for p in made)
    local = made[0].scheduled_at.astimezone(site.zone)
    assert local.strftime("%H:%M") == "09:30"
    anna = client("anna")
    assert f'data-post="{made[1].id}"' in anna.get("/").text


def test_composing_for_another_organisations_channel_is_refused(client, site: Settings):
    eva = client("eva")
    eva.get("/compose")
    response = compose(
        eva, {"text": "x", "channel": "politi-facebook", "when": "approval", "action": "draft"}
    )
    assert response.status_code == 403
    assert posts(site) == []
    vera = client("vera")
    assert vera.get("/compose").status_code == 403


def test_too_long_for_x_is_not_saved_and_says_so(client, site: Settings):
    eva = client("eva")
    eva.get("/compose")
    response = compose(
        eva, {"text": "ø" * 281, "channel": "kommune-x", "when": "approval", "action": "draft"}
    )
    assert response.status_code == 400
    assert "Teksten er 281 af 280 tegn: forkort den med 1." in response.text
    assert posts(site) == []
    checked = compose(
        eva, {"text": "ø" * 200, "channel": "kommune-x", "when": "approval", "action": "check"}
    )
    assert "200 af 280 tegn, som X tæller" in checked.text


def test_the_live_count_is_the_servers(client):
    eva = client("eva")
    eva.get("/compose")
    response = eva.post(
        "/compose/count",
        {"text": "Læs mere https://www.aalborg.dk/" + "x" * 200, "channel": ["kommune-x"]},
    )
    assert response.status_code == 200
    assert json.loads(response.text)[0]["length"] == 32  # the link counts 23, as on X
    assert (
        eva.post("/compose/count", {"text": "x"}, origin="https://evil.example").status_code == 403
    )


def test_an_uploaded_image_is_decoded_saved_again_and_kept_private(client, site: Settings):
    eva = client("eva")
    eva.get("/compose")
    fields = {
        "text": "Billede af lygten",
        "channel": "kommune-facebook",
        "when": "approval",
        "action": "draft",
    }
    no_alt = compose(eva, fields, files={"image": ("lygte.png", png(), "image/png")})
    assert no_alt.status_code == 400
    assert "alt-tekst" in no_alt.text
    fake = compose(
        eva,
        {**fields, "image_alt": "En lygte"},
        files={"image": ("lygte.png", b"<script>alert(1)</script>", "image/png")},
    )
    assert fake.status_code == 400
    assert "ikke et billede" in fake.text
    good = compose(
        eva,
        {**fields, "image_alt": "En rød lygte i mørket"},
        files={"image": ("../../etc/lygte.png", png(extra=b"<?php echo 1; ?>"), "image/png")},
    )
    assert good.status_code == 303, good.text
    post = posts(site)[0]
    saved = Path(post.image_path or "")
    assert saved.parent == site.web.uploads_dir
    assert saved.name != "lygte.png"
    assert b"<?php" not in saved.read_bytes()
    assert Image.open(saved).size == (40, 30)
    image = eva.get(f"/posts/{post.id}/image")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert client(None).get(f"/posts/{post.id}/image").status_code == 303  # sign in first


def test_when_approved_and_a_time_in_the_past(client, site: Settings):
    eva = client("eva")
    eva.get("/compose")
    base = {"text": "Nu", "channel": "kommune-facebook", "action": "draft"}
    past = compose(eva, {**base, "when": "time", "date": "2020-01-01", "time": "09:00"})
    assert past.status_code == 400
    assert compose(eva, {**base, "when": "approval"}).status_code == 303
    assert posts(site)[0].on_approval is True


# --- variants per channel, errors beside their fields, an image kept between rounds ---------


class Elements(HTMLParser):
    """Every element with an id: its attributes and the text inside it."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.attrs: dict[str, dict[str, str]] = {}
        self.texts: dict[str, str] = {}
        self.open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if "id" in found:
            self.attrs[found["id"]] = {"tag": tag, **found}
            self.texts[found["id"]] = ""
        if tag not in ("input", "br", "img", "meta", "link"):
            self.open.append((tag, found.get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for _, ident in self.open:
            if ident is not None:
                self.texts[ident] += data

    def described_by(self, ident: str) -> str:
        """The text of the elements that describe element `ident` (aria-describedby)."""
        names = self.attrs[ident].get("aria-describedby", "").split()
        return " ".join(self.texts[name] for name in names)


def test_each_channel_may_have_its_own_text_counted_and_linted_for_it(client, site: Settings):
    eva = client("eva")
    page = Elements(eva.get("/compose").text)
    box = [a for a in page.attrs.values() if a.get("name") == "variant:kommune-x"]
    assert box
    assert box[0]["tag"] == "textarea"
    short = "Husk refleksen #tryg https://www.aalborg.dk/tryg"
    long_x = "Refleks " * 40  # 320 characters: too long for X only
    counted = eva.post(
        "/compose/count",
        {
            "text": "ø" * 500,
            "channel": ["kommune-facebook", "kommune-x"],
            "variant:kommune-x": short,
        },
    ).json()
    by = {row["channel"]: row for row in counted}
    # 21 characters, and the link as X counts it: 23
    assert (by["kommune-x"]["length"], by["kommune-x"]["variant"]) == (44, True)
    assert (by["kommune-facebook"]["length"], by["kommune-facebook"]["variant"]) == (500, False)

    base = {"text": "Husk refleksen, også på Facebook.", "when": "approval"}
    both = {**base, "channel": ["kommune-facebook", "kommune-x"]}
    refused = compose(eva, {**both, "variant:kommune-x": long_x, "action": "draft"})
    assert refused.status_code == 400
    shown = Elements(refused.text)
    x_field = next(i for i, a in shown.attrs.items() if a.get("name") == "variant:kommune-x")
    assert shown.attrs[x_field]["aria-invalid"] == "true"
    assert "forkort den med 40" in shown.described_by(x_field)
    assert "aria-invalid" not in shown.attrs["text"]  # the common text is fine
    assert long_x.strip() in shown.texts[x_field]  # kept as written
    assert posts(site) == []

    link = "https://www.aalborg.dk/tryg/refleks"
    saved = compose(eva, {**both, "variant:kommune-x": short, "link": link, "action": "draft"})
    assert saved.status_code == 303, saved.text
    made = {p.channel: p for p in posts(site)}
    for channel, post in made.items():  # each post's link tagged for its own channel
        assert post.link is not None
        assert post.link.startswith(link + "?")
        assert f"utm_source={channel}" in post.link
    assert made["kommune-facebook"].text == base["text"]
    assert made["kommune-x"].text.startswith("Husk refleksen #tryg https://www.aalborg.dk/tryg?")
    assert "utm_source=kommune-x" in made["kommune-x"].text
    assert made["kommune-x"].story == made["kommune-facebook"].story


def test_errors_stand_beside_their_fields_and_the_form_stays_filled(client, site: Settings):
    eva = client("eva")
    eva.get("/compose")
    response = compose(
        eva,
        {
            "title": "Blå Mandag",
            "text": "",
            "link": "ftp://aalborg.dk",
            "when": "time",
            "date": "2020-01-01",
            "time": "09:00",
            "action": "submit",
        },
    )
    assert response.status_code == 400
    page = Elements(response.text)
    assert "Vælg mindst én kanal." in page.described_by("channels")
    assert "Tiden er allerede passeret" in page.described_by("when")
    assert "https://" in page.described_by("link")
    assert page.attrs["title"]["value"] == "Blå Mandag"
    assert page.attrs["link"]["value"] == "ftp://aalborg.dk"
    summary = page.texts["compose-error"]
    assert "Kanaler" in summary
    assert "Hvornår" in summary
    assert "Link" in summary
    assert 'href="#channels"' in response.text
    assert 'href="#when"' in response.text

    only_text = compose(
        eva, {"text": "", "channel": "kommune-x", "when": "approval", "action": "draft"}
    )
    assert "Skriv en tekst." in Elements(only_text.text).described_by("text")
    assert posts(site) == []


def test_a_checked_image_is_kept_by_a_token_until_the_form_is_sent_again(client, site: Settings):
    eva = client("eva")
    eva.get("/compose")
    fields = {"text": "Lygten", "channel": "kommune-facebook", "when": "approval"}
    first = compose(
        eva, {**fields, "action": "draft"}, files={"image": ("lygte.png", png(), "image/png")}
    )
    assert first.status_code == 400
    page = Elements(first.text)
    assert "alt-tekst" in page.described_by("image_alt").lower()
    token = re.search(r'name="image_token" value="([^"]+)"', first.text)
    assert token is not None
    assert "lygte.png" in page.texts["image-kept"]
    assert site.web.uploads_dir is not None
    kept = list((site.web.uploads_dir / "pending").rglob(token.group(1)))
    assert len(kept) == 1

    emil = client("emil")  # another editor cannot use eva's token
    emil.get("/compose")
    foreign = compose(
        emil,
        {**fields, "image_alt": "En lygte", "image_token": token.group(1), "action": "draft"},
    )
    assert foreign.status_code == 400
    assert "vælg det igen" in Elements(foreign.text).described_by("image")
    sneaky = compose(
        eva, {**fields, "image_alt": "En lygte", "image_token": "../../comms.db", "action": "draft"}
    )
    assert sneaky.status_code == 400

    second = compose(
        eva,
        {
            **fields,
            "image_alt": "En rød lygte i mørket",
            "image_token": token.group(1),
            "image_name": "lygte.png",
            "action": "draft",
        },
    )
    assert second.status_code == 303, second.text
    post = posts(site)[0]
    saved = Path(post.image_path or "")
    assert saved.parent == site.web.uploads_dir
    assert saved.name == token.group(1)
    assert saved.is_file()
    assert not kept[0].exists()
    assert post.image_alt == "En rød lygte i mørket"


def test_readability_advice_shows_while_composing_and_does_not_stop_the_draft(
    client, site: Settings
):
    eva = client("eva")
    eva.get("/compose")
    fields = {
        "text": "Kom godt hjem fra Blå Mandag. #trygaalborg",
        "channel": "kommune-facebook",
        "when": "approval",
    }
    checked = compose(eva, {**fields, "action": "check"})
    assert checked.status_code == 200
    assert 'class="advice">Råd: Skriv hashtags med stort begyndelsesbogstav' in checked.text
    counted = eva.post("/compose/count", {"text": fields["text"], "channel": ["kommune-facebook"]})
    (result,) = json.loads(counted.text)
    assert result["problems"] == []
    assert any("#trygaalborg" in w for w in result["warnings"])
    saved = compose(eva, {**fields, "action": "draft"})
    assert saved.status_code == 303, saved.text
    (made,) = posts(site)
    page = eva.get(f"/posts/{made.id}").text
    assert 'id="advice"' in page
    assert "#trygaalborg" in page
