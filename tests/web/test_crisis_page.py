"""The crisis pause in the workspace: who may stop what, the banner on every page, resume with
care and the held posts settled one by one (TestClient); and the whole of it in Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from comms.config import Settings
from comms.publishing.daemon import Daemon
from comms.store.db import session_scope
from comms.store.models import AuditEvent, CrisisPause, PostState
from tests.web.conftest import add_post
from tests.web.live import sign_in, state_of


def due_post(site: Settings, channel: str = "kommune-facebook") -> int:
    """An approved post due a second ago."""
    return add_post(
        site,
        channel=channel,
        state="queued",
        approved_by="anna",
        scheduled_at=datetime.now(UTC) - timedelta(seconds=1),
    )


def stop(browser: Any, scope: str, reason: str = "Alvorlig ulykke på motorvejen", **extra: str):
    browser.get("/crisis")
    return browser.post(
        "/crisis/pause", {"scope": scope, "reason": reason, "confirm": "yes", **extra}
    )


def pauses(site: Settings) -> list[CrisisPause]:
    with session_scope(site.database_url) as session:
        return list(session.exec(select(CrisisPause)).all())


def test_an_approver_stops_their_organisation_and_every_page_says_so(client, site):
    kommune, politi = due_post(site), due_post(site, "politi-facebook")
    anna = client("anna")  # approver of kommune
    assert "Stop alle udgivelser" in anna.get("/").text
    response = stop(anna, "kommune")
    assert response.status_code == 303
    assert response.headers["location"] == "/crisis?ok=paused"
    (row,) = pauses(site)
    assert (row.organisation, row.paused_by, row.reason) == (
        "kommune",
        "anna",
        "Alvorlig ulykke på motorvejen",
    )
    assert row.channel_names == {"hjemmeside", "kommune-facebook", "kommune-x"}
    assert state_of(site, kommune).state == PostState.HELD
    assert state_of(site, politi).state == PostState.QUEUED
    vera = client("vera")  # a viewer sees the banner on every page
    for path in ("/", "/queue", "/calendar", "/campaigns", "/report", "/crisis"):
        page = vera.get(path, follow_redirects=True).text
        assert 'id="crisis-banner"' in page, path
        assert "Organisationen kommune er stoppet siden" in page, path
        assert "af anna" in page
        assert "Alvorlig ulykke på motorvejen" in page
        assert "1 opslag er tilbageholdt" in page
    assert "Stop alle udgivelser" not in vera.get("/").text


def test_who_may_stop_what(client, site):
    assert stop(client("eva"), "kommune").status_code == 403  # an editor
    assert stop(client("anna"), "all").status_code == 403  # bound to kommune
    assert stop(client("anna"), "politi").status_code == 403
    assert pauses(site) == []
    assert stop(client("admin"), "all").status_code == 303
    (row,) = pauses(site)
    assert row.channel_names is None


def test_a_stop_needs_a_reason_and_a_confirmation(client, site):
    anna = client("anna")
    assert stop(anna, "kommune", reason="  ").status_code == 400
    anna.get("/crisis")
    refused = anna.post("/crisis/pause", {"scope": "kommune", "reason": "Ulykke"})
    assert refused.status_code == 400
    assert "Bekræft" in refused.text
    assert pauses(site) == []


def test_a_stop_without_the_forms_token_is_refused(client, site):
    anna = client("anna")
    anna.get("/crisis")
    refused = anna.post(
        "/crisis/pause", {"scope": "kommune", "reason": "Ulykke", "confirm": "yes"}, token="forged"
    )
    assert refused.status_code == 403
    assert pauses(site) == []


def test_resume_keeps_held_posts_until_each_is_settled_by_a_person(client, site):
    late, moved, dropped = due_post(site), due_post(site), due_post(site)
    anna = client("anna")
    stop(anna, "kommune")
    (row,) = pauses(site)
    anna.get("/crisis")
    assert anna.post(f"/crisis/{row.id}/resume", {"held": "keep"}).status_code == 303
    Daemon(site).run_once()
    assert {state_of(site, p).state for p in (late, moved, dropped)} == {PostState.HELD}
    page = anna.get("/crisis").text
    assert "Tilbageholdte opslag venter" in page  # the banner stays while they wait
    for post in (late, moved, dropped):
        assert f'data-post="{post}"' in page
    assert "tilbageholdt (krisestop)" in anna.get(f"/posts/{late}").text
    listed = anna.get("/queue?state=held&from=").text
    assert all(f'data-post="{post}"' in listed for post in (late, moved, dropped))
    assert anna.post(f"/crisis/held/{late}/release").status_code == 303
    when = (datetime.now(UTC) + timedelta(days=3)).astimezone(site.zone)
    moving = {"date": when.date().isoformat(), "time": "09:30"}
    assert anna.post(f"/crisis/held/{moved}/reschedule", moving).status_code == 303
    assert anna.post(f"/crisis/held/{dropped}/cancel").status_code == 303
    assert state_of(site, late).state == PostState.QUEUED
    assert state_of(site, moved).state == PostState.QUEUED
    assert state_of(site, dropped).state == PostState.CANCELLED
    assert 'id="crisis-banner"' not in anna.get("/").text
    with session_scope(site.database_url) as session:
        actions = session.exec(
            select(AuditEvent.action).where(AuditEvent.actor == "anna").order_by(AuditEvent.id)
        ).all()
    assert actions[-5:] == ["crisis-pause", "crisis-resume", "release-held", "reschedule", "cancel"]


def test_an_approver_cannot_lift_or_settle_another_organisations_pause(client, site):
    held = due_post(site, "politi-facebook")
    assert stop(client("peter"), "politi").status_code == 303  # approver of politi
    (row,) = pauses(site)
    anna = client("anna")
    anna.get("/crisis")
    assert anna.post(f"/crisis/{row.id}/resume").status_code == 403
    assert anna.post(f"/crisis/held/{held}/cancel").status_code == 403
    assert pauses(site)[0].resumed_at is None
    assert state_of(site, held).state == PostState.HELD


def test_resume_can_publish_every_held_post_when_confirmed(client, site):
    held = [due_post(site), due_post(site)]
    admin = client("admin")
    stop(admin, "all")
    (row,) = pauses(site)
    admin.get("/crisis")
    unconfirmed = admin.post(f"/crisis/{row.id}/resume", {"held": "publish"})
    assert unconfirmed.status_code == 400
    done = admin.post(f"/crisis/{row.id}/resume", {"held": "publish", "confirm": "yes"})
    assert done.status_code == 303
    assert [state_of(site, p).state for p in held] == [PostState.QUEUED, PostState.QUEUED]


@pytest.mark.slow
def test_stop_everything_and_bring_it_back_in_chromium(open_page: Any, base: str, site: Settings):
    late = due_post(site)
    admin = open_page()
    sign_in(admin, base, "admin")
    admin.click("#stop-all")
    admin.wait_for_url("**/crisis#stop")
    admin.select_option("#stop-scope", "all")
    admin.fill("#stop-reason", "Voldsom brand på havnen")
    admin.click("#stop-form button[type=submit]")
    # the confirmation box is required: the browser keeps the form until it is ticked
    assert admin.url.endswith("/crisis#stop")
    admin.check("#stop-form input[name=confirm]")
    admin.click("#stop-form button[type=submit]")
    admin.wait_for_url("**/crisis?ok=paused")
    banner = admin.inner_text("#crisis-banner")
    assert "Alle kanaler er stoppet siden" in banner
    assert "Voldsom brand på havnen" in banner
    assert "1 opslag er tilbageholdt" in banner
    assert state_of(site, late).state == PostState.HELD

    vera = open_page()  # a viewer sees it on every page
    sign_in(vera, base, "vera")
    assert "Voldsom brand på havnen" in vera.inner_text("#crisis-banner")
    assert vera.locator("#stop-all").count() == 0

    admin.click(".resume-form button[type=submit]")
    admin.wait_for_url("**/crisis?ok=resumed")
    assert "Tilbageholdte opslag venter" in admin.inner_text("#crisis-banner")
    assert state_of(site, late).state == PostState.HELD
    admin.click(f'#held tr[data-post="{late}"] .release-form button')
    admin.wait_for_url("**/crisis?ok=released")
    assert admin.locator("#crisis-banner").count() == 0
    assert admin.locator("#no-held").count() == 1
    assert state_of(site, late).state == PostState.QUEUED
