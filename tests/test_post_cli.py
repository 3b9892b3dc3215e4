"""`comms post` as an officer runs it: one-off posts from options and from files, in a real
SQLite queue in tmp_path, with the example config (hjemmeside, facebook, instagram, x, …)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlmodel import select

from comms.errors import CommsError
from comms.store.db import session_scope
from comms.store.models import AuditEvent, Post
from tests.cli import comms_cli, run_comms

cli = comms_cli()


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str


TEXT = "Kør forsigtigt i morgen.\nDer er glat på vejene. #TrygAalborg\n"


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def comms(*args: str, code: int = 0) -> Outcome:
    """`comms ARGS` in this process; a comms error becomes the line `main()` prints for it.

    `main()` itself (one line, exit status 1) is tested through a real process in
    test_the_real_command_says_one_line_and_exits_1."""
    result = CliRunner().invoke(cli, list(args))
    stderr, status = result.stderr, result.exit_code
    if isinstance(result.exception, CommsError):
        stderr, status = stderr + f"Error: {result.exception}\n", 1
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert status == code, result.output + stderr
    return Outcome(result.stdout, stderr)


def queue() -> list[dict]:
    return json.loads(run("queue", "list", "--format", "json").output)


def ids_of(output: str) -> list[int]:
    return [int(m) for m in re.findall(r"^  (\d+)  \S+$", output, flags=re.MULTILINE)]


@pytest.fixture
def news(project: Path) -> Path:
    (project / "nyhed.md").write_text(TEXT, encoding="utf-8")
    return project / "nyhed.md"


def test_two_channels_make_one_story_of_drafts_at_the_local_time(news):
    done = run(
        "post",
        "--channels",
        "hjemmeside,facebook",
        "--at",
        "2027-01-14 09:00",
        "--title",
        "Glatte veje",
        "--text-file",
        str(news),
    )
    ids = ids_of(done.output)
    assert len(ids) == 2
    assert "14. januar 2027 kl. 9.00" in done.output
    assert f"comms approve {ids[0]} {ids[1]}" in done.output
    posts = {p["id"]: p for p in queue()}
    made = [posts[i] for i in ids]
    assert {p["channel"] for p in made} == {"hjemmeside", "facebook"}
    assert {p["state"] for p in made} == {"draft"}
    assert len({p["story"] for p in made}) == 1
    assert made[0]["story"]
    assert {p["author"] for p in made} == {"anne"}
    assert all(p["campaign"] is None and not p["on_approval"] for p in made)
    # 09:00 in Copenhagen in January is 08:00 UTC
    stored = datetime.fromisoformat(made[0]["scheduled_at"])
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == datetime(2027, 1, 14, 8, 0, tzinfo=UTC)
    assert made[0]["local_time"] == "2027-01-14 09:00"
    assert made[0]["text"] == TEXT.strip()
    shown = run("queue", "show", str(ids[0])).output
    assert f"story: {made[0]['story']}" in shown
    assert "author: anne" in shown
    with session_scope("sqlite:///comms.db") as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "compose")).all()
        assert sorted(e.post_id for e in events) == sorted(ids)
        assert {e.actor for e in events} == {"anne"}


def test_queue_list_shows_the_story_of_a_one_off_post(news):
    run("post", "--channels", "hjemmeside", "--text-file", str(news), "--title", "Glat")
    story = queue()[0]["story"]
    listed = CliRunner().invoke(cli, ["queue", "list"], terminal_width=200, env={"COLUMNS": "200"})
    assert "(enkeltopslag)" in listed.output
    assert story[:8] in listed.output


def test_without_at_the_post_goes_out_when_approved(news):
    done = run("post", "--channels", "hjemmeside", "--text-file", str(news), "--author", "bo")
    assert "når det er godkendt" in done.output
    (post,) = queue()
    assert post["submitted_at"] is None  # a draft the author may still change
    assert post["on_approval"] is True
    assert post["local_time"] is None
    assert post["author"] == "bo"


def test_a_variant_gives_its_channel_its_own_text_tagged_for_it(news, project):
    (project / "fb.md").write_text("Glat i morgen: https://www.aalborg.dk/glat\n")
    run(
        "post",
        "--channels",
        "hjemmeside,facebook",
        "--text-file",
        str(news),
        "--variant",
        "facebook=fb.md",
        "--link",
        "https://www.aalborg.dk/glat",
    )
    links = {p["channel"]: p["link"] for p in queue()}
    assert links["hjemmeside"].endswith(
        "?utm_source=hjemmeside&utm_medium=social&utm_campaign=enkeltopslag"
    )
    by_channel = {p["channel"]: p["text"] for p in queue()}
    assert by_channel["hjemmeside"] == TEXT.strip()
    assert by_channel["facebook"] == (
        "Glat i morgen: https://www.aalborg.dk/glat"
        "?utm_source=facebook&utm_medium=social&utm_campaign=enkeltopslag"
    )


def test_a_lint_error_on_one_channel_writes_nothing_and_names_the_file_line(project):
    text = project / "lang.md"
    text.write_text("Første linje.\n" + "Glat vej. " * 40 + "\n")
    failed = comms("post", "--channels", "hjemmeside,x", "--text-file", str(text), code=1)
    length = len("Første linje.\n" + ("Glat vej. " * 40).rstrip())  # X counts these as 1 each
    said = f"Teksten er {length} af 280 tegn: forkort den med {length - 280}."
    assert f"{text}:1: x: {said}" in failed.stderr
    assert "intet er gemt" in failed.stderr
    assert queue() == []


def test_brand_spelling_is_located_at_its_line(project):
    text = project / "brand.md"
    text.write_text("Kom trygt hjem.\nHilsen Tryk Aalborg.\n")
    failed = comms("post", "--channels", "hjemmeside", "--text-file", str(text), code=1)
    assert f"{text}:2: hjemmeside: Skriv »Tryg Aalborg«, ikke »Tryk Aalborg«" in failed.stderr
    assert queue() == []


def test_the_mistakes_an_officer_makes_are_named(news, project):
    typo = comms("post", "--channels", "hjemmeside,facebok", "--text-file", str(news), code=1)
    assert "mente du 'facebook'?" in typo.stderr
    bad_at = comms("post", "--channels", "hjemmeside", "--at", "14/1 9", "--text", "Hej", code=2)
    assert '"2027-01-14 09:00"' in bad_at.stderr
    past = comms(
        "post", "--channels", "hjemmeside", "--at", "2020-01-14 09:00", "--text", "Hej", code=1
    )
    assert "allerede passeret" in past.stderr
    missing = comms("post", "--channels", "hjemmeside", "--text-file", "væk.md", code=1)
    assert "væk.md findes ikke" in missing.stderr
    not_image = comms(
        "post", "--channels", "hjemmeside", "--text", "Hej", "--image", str(news), code=1
    )
    assert "er ikke et billede" in not_image.stderr
    no_image = comms(
        "post", "--channels", "hjemmeside", "--text", "Hej", "--image", "væk.jpg", code=1
    )
    assert "findes ikke" in no_image.stderr
    (project / "fb.md").write_text("Egen tekst\n")
    stray = comms(
        "post", "--channels", "hjemmeside", "--text", "Hej", "--variant", "facebook=fb.md", code=1
    )
    assert "variant til 'facebook'" in stray.stderr
    no_scheme = comms(
        "post", "--channels", "hjemmeside", "--text", "Hej", "--link", "aalborg.dk", code=1
    )
    assert "skal begynde med https://" in no_scheme.stderr
    assert queue() == []


def test_a_time_in_the_dst_gap_moves_forward_as_the_planner_moves_it(project):
    done = run(
        "post", "--channels", "hjemmeside", "--at", "2027-03-28 02:30", "--text", "Hej", "--dry-run"
    )
    assert "kl. 3.30" in done.output
    assert "sommertidens spring" in done.output
    run("post", "--channels", "hjemmeside", "--at", "2027-03-28 02:30", "--text", "Hej")
    (post,) = queue()
    stored = datetime.fromisoformat(post["scheduled_at"]).replace(tzinfo=UTC)
    assert stored == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_a_time_that_exists_twice_means_the_first_and_says_so(project):
    done = run("post", "--channels", "hjemmeside", "--at", "2027-10-31 02:30", "--text", "Hej")
    assert "findes to gange" in done.output
    (post,) = queue()
    stored = datetime.fromisoformat(post["scheduled_at"]).replace(tzinfo=UTC)
    assert stored == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST, not CET


def test_an_image_with_alt_text_is_kept_and_instagram_needs_one(project):
    Image.new("RGB", (20, 20), "red").save(project / "vej.jpg")
    refused = comms("post", "--channels", "instagram", "--text", "Glat i dag.", code=1)
    assert "--image: instagram:" in refused.stderr
    run(
        "post",
        "--channels",
        "instagram",
        "--text",
        "Glat i dag.",
        "--image",
        "vej.jpg",
        "--alt",
        "Saltvogn på en snedækket vej",
    )
    (post,) = queue()
    assert post["image_path"] == str((project / "vej.jpg").resolve())
    assert post["image_alt"] == "Saltvogn på en snedækket vej"


def test_dry_run_shows_each_channel_and_the_warnings_and_writes_nothing(news, project):
    (project / "fb.md").write_text("Glat i morgen! #trygaalborg\n")
    shown = comms(
        "post",
        "--channels",
        "hjemmeside,facebook",
        "--text-file",
        str(news),
        "--variant",
        "facebook=fb.md",
        "--dry-run",
    )
    assert "hjemmeside | når det er godkendt" in shown.stdout
    assert "    Glat i morgen! #trygaalborg" in shown.stdout
    assert f"advarsel: {project / 'fb.md'}:1: facebook: Skriv hashtags" in shown.stderr
    assert "Prøvekørsel: intet er gemt." in shown.stdout
    assert not (project / "comms.db").exists()


def test_a_toml_file_makes_the_same_post(project, news):
    (project / "nyhed.toml").write_text(
        'channels = ["hjemmeside", "facebook"]\n'
        'at = "2027-01-14 09:00"\n'
        'title = "Glatte veje"\n'
        'text_file = "nyhed.md"\n'
        'audience = "bilister"\n'
    )
    done = run("post", "nyhed.toml")
    assert len(ids_of(done.output)) == 2
    posts = queue()
    assert {p["audience"] for p in posts} == {"bilister"}
    assert {p["local_time"] for p in posts} == {"2027-01-14 09:00"}
    assert {p["text"] for p in posts} == {TEXT.strip()}


def test_a_markdown_file_with_front_matter_makes_the_post(project):
    (project / "fb.md").write_text("Kun til Facebook.\n")
    (project / "opslag.md").write_text(
        "+++\n"
        'channels = "hjemmeside, facebook"\n'
        'title = "Glatte veje"\n'
        "[variants]\n"
        'facebook = "fb.md"\n'
        "+++\n"
        "\n"
        "Kør forsigtigt.\n"
    )
    run("post", "opslag.md")
    by_channel = {p["channel"]: p for p in queue()}
    assert by_channel["hjemmeside"]["text"] == "Kør forsigtigt."
    assert by_channel["facebook"]["text"] == "Kun til Facebook."
    assert by_channel["hjemmeside"]["on_approval"] is True


def test_a_bad_key_in_the_file_is_named_at_its_line(project):
    (project / "opslag.md").write_text(
        '+++\nchannels = ["hjemmeside"]\ntitel = "Glat"\n+++\nKør forsigtigt.\n'
    )
    failed = comms("post", "opslag.md", code=1)
    assert f"{project / 'opslag.md'}:3: ukendt nøgle 'titel'" in failed.stderr
    assert "mente du 'title'?" in failed.stderr


def test_a_lint_error_in_a_markdown_body_names_the_body_line(project):
    (project / "opslag.md").write_text(
        '+++\nchannels = ["x"]\n+++\n\nFørste linje.\n' + "Glat vej. " * 40 + "\n"
    )
    failed = comms("post", "opslag.md", code=1)
    assert f"{project / 'opslag.md'}:5: x: Teksten er" in failed.stderr


def test_one_off_posts_are_reported_as_their_own_campaign(news):
    run("post", "--channels", "hjemmeside", "--text-file", str(news))
    (post,) = queue()
    with session_scope("sqlite:///comms.db") as session:
        row = session.get(Post, post["id"])
        assert row is not None
        row.state = "published"  # as the daemon leaves it (the test's own setup, not an API)
        row.published_at = datetime(2027, 1, 14, 8, 0, tzinfo=UTC)
    for fmt in ("table", "json", "csv", "md", "html"):
        shown = run("report", "--from", "2027-01-01", "--to", "2027-01-31", "--format", fmt).output
        assert "(enkeltopslag)" in shown, fmt


def test_the_real_command_says_one_line_and_exits_1(news):
    failed = run_comms("post", "--channels", "hjemmeside,facebok", "--text-file", str(news))
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "Error: --channels: kanalen 'facebok' findes ikke; mente du 'facebook'? kanalerne er: "
        "facebook, hjemmeside, instagram, linkedin, x"
    ]
    usage = run_comms("post", "--channels", "hjemmeside", "--at", "i morgen", "--text", "Hej")
    assert usage.returncode == 2
    assert '"2027-01-14 09:00"' in usage.stderr


def test_submit_asks_for_approval_at_once(news):
    run("post", "--channels", "hjemmeside", "--text-file", str(news), "--submit")
    (post,) = queue()
    assert post["state"] == "draft"
    assert post["submitted_at"] is not None
    with session_scope("sqlite:///comms.db") as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.post_id == post["id"]))
        assert sorted(actions.all()) == ["compose", "submit"]
