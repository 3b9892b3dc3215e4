"""Composing a one-off post through the workspace: channels by organisation, counts as each
channel counts, an uploaded image checked by its content, drafts or a submission."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
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
