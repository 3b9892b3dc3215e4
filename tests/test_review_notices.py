"""Notices to people, through real daemon passes and the real email adapter against an SMTP
server on 127.0.0.1: posts submitted for approval reach that organisation's approvers in one
notice each, a rejection reaches its author with the comment, an expired post its author; a
notice that could not be sent goes out at the next pass, and never twice."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from comms import accounts
from comms.content.danish import format_datetime
from comms.publishing.daemon import Daemon
from comms.queue import transitions as queue
from comms.store.db import session_scope
from comms.store.models import Notice, Post, PostState, utcnow
from tests.channels.test_email import Smtp
from tests.factories import stub_channel

WHEN = datetime(2030, 6, 1, 6, 0, tzinfo=UTC)  # 8.00 in Copenhagen (summer time)
ZONE = ZoneInfo("Europe/Copenhagen")
PEOPLE = [  # username, role, organisation, email
    ("anna", "editor", "politi", "anna@politi.dk"),
    ("bo", "editor", "politi", None),
    ("pia", "approver", "politi", "pia@politi.dk"),
    ("per", "approver", "politi", "per@politi.dk"),
    ("nils", "approver", "politi", None),
    ("kim", "approver", "kommune", "kim@aalborg.dk"),
    ("ole", "approver", None, "ole@tryg-aalborg.dk"),
    ("vera", "viewer", "politi", "vera@politi.dk"),
]


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    with Smtp() as server:
        yield server


def team_settings(make_settings, tmp_path, smtp: Smtp, *, base_url: bool = True):
    """Two organisations' channels (stubs) and an email channel `team` for the notices."""
    web = '[web]\nbase_url = "https://comms.example.dk"\n' if base_url else ""
    return make_settings(
        channels=stub_channel(tmp_path, "politi-fb", organisation="politi")
        + stub_channel(tmp_path, "kommune-fb", organisation="kommune")
        + f"""
[channels.team]
type = "email"
host = "127.0.0.1"
port = {smtp.port}
starttls = false
from = "comms <comms@tryg-aalborg.dk>"
to = ["team@tryg-aalborg.dk"]
timeout_seconds = 5

[notifications]
channel = "team"
{web}"""
    )


def add_people(url: str, people=PEOPLE) -> None:
    with session_scope(url) as session:
        for username, role, organisation, address in people:
            accounts.add_user(
                session,
                username,
                None,
                role=role,
                organisation=organisation,
                email=address,
                actor="test",
            )


def compose(url: str, author: str, channel: str, text: str, *, submit: bool = True) -> int:
    [post_id] = story(url, author, [channel], text, submit=submit)
    return post_id


def story(
    url: str,
    author: str,
    channels: list[str],
    text: str,
    *,
    when: datetime = WHEN,
    submit: bool = True,
) -> list[int]:
    """One story by `author` on `channels`, due `when` (submitted for approval unless not)."""
    with session_scope(url) as session:
        return queue.compose(
            session, actor=author, channels=channels, text=text, scheduled_at=when, submit=submit
        )


def later(minutes: int = 2) -> datetime:
    """A pass after the submissions have settled (notify.SETTLE)."""
    return utcnow() + timedelta(minutes=minutes)


def inbox(smtp: Smtp) -> dict[str, list[email.message.EmailMessage]]:
    """Received messages by envelope recipient."""
    by_rcpt: dict[str, list[email.message.EmailMessage]] = {}
    for _sender, rcpts, content in smtp.inbox.messages:
        message = email.message_from_bytes(
            content.replace(b"\r\n", b"\n"), policy=email.policy.default
        )
        for rcpt in rcpts:
            by_rcpt.setdefault(rcpt, []).append(message)
    return by_rcpt


def body(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_five_submissions_make_one_notice_per_approver_of_that_organisation(
    make_settings, tmp_path, smtp
):
    settings = team_settings(make_settings, tmp_path, smtp)
    url = settings.database_url
    add_people(url)
    ids = [compose(url, "anna", "politi-fb", f"Husk lygten, nummer {n}") for n in range(3)]
    ids += [compose(url, "bo", "politi-fb", f"Lås døren, nummer {n}", submit=False) for n in (3, 4)]
    with session_scope(url) as session:
        assert queue.submit(session, ids[3:], actor="bo") == 2
    compose(url, "anna", "kommune-fb", "Et udkast, ikke sendt", submit=False)

    daemon = Daemon(settings)
    daemon.run_once()  # the submissions are younger than a minute: they wait for the batch
    assert smtp.inbox.messages == []
    daemon.run_once(later())
    daemon.run_once(later(3))
    Daemon(settings).run_once(later(4))  # a second daemon sends nothing again

    received = inbox(smtp)
    # politi's approvers with an address, and the approver bound to no organisation; not kommune's
    # approver, not the viewer, not the team list (the approvers have addresses)
    assert sorted(received) == ["ole@tryg-aalborg.dk", "per@politi.dk", "pia@politi.dk"]
    for address, messages in received.items():
        [message] = messages
        assert message["To"] == address
        assert message["Subject"] == "comms: 5 opslag for politi venter på godkendelse"
        text = body(message)
        for post_id in ids:
            assert f"- Opslag {post_id} på politi-fb: " in text
            assert f"https://comms.example.dk/posts/{post_id}" in text
        assert text.count("- Opslag ") == 5
        assert "Husk lygten, nummer 0" in text
        assert "Lås døren, nummer 4" in text
        assert f"skal udgives {format_datetime(WHEN, ZONE)}" in text
        assert "skal udgives 1. juni 2030 kl. 8.00" in text
        assert "sendt til godkendelse af bo " in text
        assert "Godkend eller afvis dem i arbejdsområdet: https://comms.example.dk/" in text
    assert body(received["pia@politi.dk"][0]).startswith("Hej pia,")

    # one more submission: the next notice lists only it
    new = compose(url, "bo", "politi-fb", "Ny aftale")
    daemon.run_once(later(5))
    again = inbox(smtp)
    assert [len(m) for m in again.values()] == [2, 2, 2]
    latest = body(again["pia@politi.dk"][1])
    assert latest.count("- Opslag ") == 1
    assert f"Opslag {new} på politi-fb" in latest


def test_four_eyes_leaves_an_approver_out_of_their_own_posts(make_settings, tmp_path, smtp):
    settings = team_settings(make_settings, tmp_path, smtp)
    url = settings.database_url
    add_people(url, [("pia", "approver", "politi", "pia@politi.dk")])
    add_people(url, [("per", "approver", "politi", "per@politi.dk")])
    compose(url, "pia", "politi-fb", "Pias eget opslag")
    Daemon(settings).run_once(later())
    assert sorted(inbox(smtp)) == ["per@politi.dk"]


def test_without_approver_addresses_the_team_list_gets_one_notice_per_organisation(
    make_settings, tmp_path, smtp
):
    settings = team_settings(make_settings, tmp_path, smtp, base_url=False)
    url = settings.database_url
    add_people(url, [("nils", "approver", "politi", None), ("anna", "editor", None, None)])
    for n in range(2):
        compose(url, "anna", "politi-fb", f"Politi {n}")
    kommune = compose(url, "anna", "kommune-fb", "Kommune")
    daemon = Daemon(settings)
    daemon.run_once(later())
    daemon.run_once(later(3))
    [first, second] = inbox(smtp)["team@tryg-aalborg.dk"]
    subjects = sorted([first["Subject"], second["Subject"]])
    assert subjects == [
        "comms: 1 opslag for kommune venter på godkendelse",
        "comms: 2 opslag for politi venter på godkendelse",
    ]
    text = body(first if "kommune" in first["Subject"] else second)
    assert text.startswith("Hej godkendere,")
    assert f"Se det med `comms queue show {kommune}`." in text  # no base_url: the command


def test_a_notice_through_a_webhook_like_channel_goes_once_per_organisation(
    make_settings, tmp_path
):
    import json

    settings = make_settings(
        channels=stub_channel(tmp_path, "politi-fb", organisation="politi")
        + stub_channel(tmp_path, "kommune-fb", organisation="kommune")
        + stub_channel(tmp_path, "team")
        + '[notifications]\nchannel = "team"\n'
    )
    url = settings.database_url
    add_people(url, [("pia", "approver", "politi", "pia@politi.dk")])
    for n in range(5):
        compose(url, "anna", "politi-fb", f"Politi {n}")
    Daemon(settings).run_once(later())
    sent = [json.loads(line) for line in (tmp_path / "team.jsonl").read_text().splitlines()]
    [notice] = sent  # a stub cannot address pia: one notice for politi, to the channel
    assert notice["text"].count("- Opslag ") == 5


def test_rejection_notifies_its_author_with_the_comment_once(make_settings, tmp_path, smtp):
    settings = team_settings(make_settings, tmp_path, smtp)
    url = settings.database_url
    add_people(url)
    post_id = compose(url, "anna", "politi-fb", "Tallene for 2029")
    daemon = Daemon(settings)
    daemon.run_once(later())
    smtp.inbox.messages.clear()  # the approval notices; this test is about the rejection
    with session_scope(url) as session:
        queue.reject(session, post_id, actor="pia", comment="Tjek tallene igen.\nDe er fra 2028.")
    daemon.run_once(later(3))
    daemon.run_once(later(4))
    received = inbox(smtp)
    assert sorted(received) == ["anna@politi.dk"]
    [message] = received["anna@politi.dk"]
    assert message["Subject"] == f"comms: opslag {post_id} på politi-fb er afvist"
    text = body(message)
    assert text.startswith("Hej anna,")
    assert f"pia har afvist opslag {post_id} på politi-fb: Tallene for 2029" in text
    assert "  Tjek tallene igen.\n  De er fra 2028." in text
    assert f"https://comms.example.dk/posts/{post_id}" in text

    # a new version, submitted and rejected again, is a new rejection: noticed again
    with session_scope(url) as session:
        queue.edit(session, post_id, actor="anna", text="Tallene for 2029, rettet")
        queue.submit(session, [post_id], actor="anna")
    daemon.run_once(later(6))
    smtp.inbox.messages.clear()
    with session_scope(url) as session:
        queue.reject(session, post_id, actor="per", comment="Stadig forkert.")
    daemon.run_once(later(8))
    [second] = inbox(smtp)["anna@politi.dk"]
    assert "per har afvist" in body(second)
    assert "Stadig forkert." in body(second)
    assert "Tjek tallene" not in body(second)


def test_a_story_rejected_on_two_channels_is_one_notice_sent_once(make_settings, tmp_path, smtp):
    settings = team_settings(make_settings, tmp_path, smtp)
    url = settings.database_url
    add_people(url, [("anna", "editor", None, "anna@politi.dk")])
    ids = story(url, "anna", ["politi-fb", "kommune-fb"], "Fælles opslag")
    with session_scope(url) as session:
        for post_id in ids:
            queue.reject(session, post_id, actor="pia", comment=f"Nej til {post_id}")
    smtp.inbox.data_reply = "451 4.3.0 prøv igen senere"
    daemon = Daemon(settings)
    daemon.run_once(later())
    assert smtp.inbox.messages == []
    smtp.inbox.data_reply = None
    daemon.run_once(later(3))  # both rejections were given back, and go out together now
    daemon.run_once(later(4))
    [message] = inbox(smtp)["anna@politi.dk"]
    assert message["Subject"] == "comms: 2 opslag er afvist"
    assert all(f"  Nej til {post_id}" in body(message) for post_id in ids)


def test_rejection_of_an_author_without_address_goes_to_the_team(make_settings, tmp_path, smtp):
    settings = team_settings(make_settings, tmp_path, smtp)
    url = settings.database_url
    add_people(url, [("bo", "editor", "politi", None)])
    with session_scope(url) as session:
        accounts.add_user(
            session, "pia", None, role="approver", display_name="Pia Holm", actor="test"
        )
    post_id = compose(url, "bo", "politi-fb", "Bos opslag", submit=False)
    with session_scope(url) as session:
        queue.submit(session, [post_id], actor="bo")
        queue.reject(session, post_id, actor="pia", comment="Mangler billede.")
    Daemon(settings).run_once(later())
    [message] = inbox(smtp)["team@tryg-aalborg.dk"]
    assert body(message).startswith("Til bo:")
    assert f"Pia Holm har afvist opslag {post_id} på politi-fb: Bos opslag" in body(message)
    assert "Mangler billede." in body(message)


def test_posts_expired_in_one_pass_make_one_notice_to_their_author(make_settings, tmp_path, smtp):
    settings = team_settings(make_settings, tmp_path, smtp)
    url = settings.database_url
    add_people(url, [("anna", "editor", None, "anna@politi.dk")])
    soon = utcnow().replace(microsecond=0) + timedelta(minutes=30)
    ids = story(url, "anna", ["politi-fb", "kommune-fb"], "Nåede ikke", when=soon, submit=False)
    daemon = Daemon(settings)
    result = daemon.run_once(utcnow() + timedelta(hours=1))
    assert result.expired == 2
    daemon.run_once(utcnow() + timedelta(hours=2))
    [message] = inbox(smtp)["anna@politi.dk"]
    assert message["Subject"] == "comms: 2 opslag er udløbet uden godkendelse"
    text = body(message)
    assert text.startswith("Hej anna,")
    for post_id, channel in zip(ids, ["politi-fb", "kommune-fb"], strict=True):
        assert f"Opslag {post_id} på {channel} (Nåede ikke) skulle udgives " in text
        assert f"https://comms.example.dk/posts/{post_id}" in text
    assert f"skulle udgives {format_datetime(soon, ZONE)}, men var ikke godkendt" in text
    assert text.count("Det er ikke udgivet.") == 2

    # a later expiry is its own notice, and the first two are not repeated
    [third] = story(url, "anna", ["politi-fb"], "Også for sent", when=soon, submit=False)
    daemon.run_once(utcnow() + timedelta(hours=3))
    [_, latest] = inbox(smtp)["anna@politi.dk"]
    assert latest["Subject"] == f"comms: opslag {third} på politi-fb er udløbet uden godkendelse"
    assert "Nåede ikke" not in body(latest)


def test_a_notice_that_could_not_be_sent_goes_out_next_pass_and_never_twice(
    make_settings, tmp_path, smtp
):
    settings = team_settings(make_settings, tmp_path, smtp)
    url = settings.database_url
    add_people(url, [("pia", "approver", "politi", "pia@politi.dk")])
    add_people(url, [("anna", "editor", "politi", "anna@politi.dk")])
    first = [compose(url, "anna", "politi-fb", f"Opslag {n}") for n in range(3)]
    smtp.inbox.data_reply = "451 4.3.0 prøv igen senere"
    daemon = Daemon(settings)
    daemon.run_once(later())
    assert smtp.inbox.messages == []
    with session_scope(url) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(Notice)).one()[0] == 0
    # one more submission while the server was down: it joins the same notice
    fourth = compose(url, "anna", "politi-fb", "Opslag 3")
    smtp.inbox.data_reply = None
    daemon.run_once(later(3))
    daemon.run_once(later(4))
    Daemon(settings).run_once(later(5))
    [message] = inbox(smtp)["pia@politi.dk"]
    text = body(message)
    assert text.count("- Opslag ") == 4
    assert all(f"- Opslag {post_id} på" in text for post_id in [*first, fourth])
    with session_scope(url) as session:
        [notice] = session.exec(sa.select(Notice)).scalars().all()
        posts = session.exec(sa.select(Post)).scalars().all()
    assert notice.kind == "approval-requested"
    assert notice.through == max(p.submitted_at for p in posts)
    assert {p.state for p in posts} == {PostState.DRAFT}  # they still wait for approval
