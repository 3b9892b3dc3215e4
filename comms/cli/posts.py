"""`comms post`: a one-off post (a story: one draft per channel) from the command line or a file.

The post goes the workspace's compose path: each channel's text is UTM-tagged and linted by
comms.content.oneoff (the planner's lint), and the drafts are written by
comms.queue.transitions.compose, which records the author and an audit event per post. Nothing
is written unless every channel's post passes lint; warnings are shown and do not stop it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from comms.cli.common import AppContext, current_actor, pass_app

if TYPE_CHECKING:
    from comms.campaigns.post_file import PostFile, TextSource
    from comms.config import Settings
    from comms.content.lint import LintProblem

AT_FORMAT = "%Y-%m-%d %H:%M"
AT_EXAMPLE = '"2027-01-14 09:00"'
IMAGE_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
IMAGE_CODES = {"image-missing", "alt-missing", "alt-is-file-name"}


@dataclass
class OneOff:
    """The post as asked for, from the file and the options (an option wins over the file)."""

    channels: list[str] = field(default_factory=list)
    at: str | None = None
    at_where: str = "--at"
    title: str | None = None
    text: str | None = None
    text_source: TextSource | None = None
    image: Path | None = None
    image_where: str = "--image"
    alt: str | None = None
    alt_where: str = "--alt"
    variants: dict[str, tuple[str, TextSource]] = field(default_factory=dict)
    variant_where: dict[str, str] = field(default_factory=dict)
    audience: str | None = None
    link: str | None = None
    author: str | None = None
    channels_where: str = "--channels"


@dataclass(frozen=True)
class ChannelPost:
    """One channel's post as it will be written, and what lint found."""

    channel: str
    text: str
    link: str | None
    source: TextSource | None
    errors: list[LintProblem]
    warnings: list[LintProblem]
    length: int
    limit: int | None


@click.command("post")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--channels", metavar="A,B", help="The channels, comma-separated.")
@click.option("--at", "at", metavar="'YYYY-MM-DD HH:MM'", help="Local time; else when approved.")
@click.option("--title", help="The title (the site's headline, the e-mail's subject).")
@click.option("--text-file", type=click.Path(path_type=Path), help="The text, from a file.")
@click.option("--text", "text", help="The text itself (instead of --text-file).")
@click.option("--image", type=click.Path(path_type=Path), help="An image (PNG, JPEG, GIF, WebP).")
@click.option("--alt", help="The image's alt text: what the picture shows.")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="CHANNEL=FILE",
    help="A channel's own text, from a file (repeatable).",
)
@click.option("--audience", help="Who the post is for (shown in the queue and reports).")
@click.option("--link", help="A link for the post (tagged with UTM like a planned post's).")
@click.option("--author", help="Who wrote it (default: $COMMS_USER, else the login name).")
@click.option("--submit", is_flag=True, help="Ask for approval at once.")
@click.option("--dry-run", is_flag=True, help="Show each channel's post and lint; write nothing.")
@pass_app
def post_command(
    app: AppContext,
    file: Path | None,
    channels: str | None,
    at: str | None,
    title: str | None,
    text_file: Path | None,
    text: str | None,
    image: Path | None,
    alt: str | None,
    variants: tuple[str, ...],
    audience: str | None,
    link: str | None,
    author: str | None,
    submit: bool,
    dry_run: bool,
) -> None:
    """Write a one-off post to one or more channels: drafts that need approval, one a channel.

    Each channel's text is linted exactly as planned posts are (limits, brand, alt text, UTM,
    readability). With an error nothing is written. --at is local time (the configured zone);
    without it the post goes out when it is approved. FILE is a .toml file, or Markdown with
    TOML front matter between +++ lines, with the options as keys (docs/posts.md).

    \b
    Example:
      comms post --channels hjemmeside,facebook --at "2027-01-14 09:00" \\
          --title "Glatte veje" --text-file nyhed.md --image vej.jpg --alt "Saltvogn på vejen"
      comms post nyhed.md --dry-run
    """
    from comms.errors import PostFileError

    settings = app.settings
    wanted = _from_file(file) if file is not None else OneOff()
    _apply_options(wanted, channels, at, title, text_file, text, image, alt, variants)
    wanted.audience = audience or wanted.audience
    wanted.link = link or wanted.link
    if wanted.link and not wanted.link.startswith(("https://", "http://")):
        raise PostFileError(f"linket {wanted.link!r} skal begynde med https://")
    wanted.author = author or wanted.author or current_actor()
    _check_channels(settings, wanted)
    when, local_text, note = _when(settings, wanted)
    image_path = _check_image(wanted)
    if wanted.text is None and not all(c in wanted.variants for c in wanted.channels):
        raise PostFileError("opslaget har ingen tekst: giv --text-file (eller text i filen)")
    built = _build(settings, wanted, image_path)
    timing = _timing(settings, when, note)
    _show(wanted, built, timing, dry_run=dry_run)
    errors = [(post, problem) for post in built for problem in post.errors]
    if errors:
        for post, problem in errors:
            click.echo(f"fejl: {_located(wanted, post, problem)}", err=True)
        raise click.ClickException(f"{len(errors)} fejl i opslaget; intet er gemt.")
    if dry_run:
        click.echo("Prøvekørsel: intet er gemt.")
        return
    ids, story = _write(app, wanted, built, image_path, when, local_text, submit=submit)
    click.echo(
        f"Oprettede {len(ids)} opslag (historie {story}) som kladder"
        + (", sendt til godkendelse" if submit else ", der skal godkendes")
        + f", {timing}:"
    )
    for post_id, post in zip(ids, built, strict=True):
        click.echo(f"  {post_id}  {post.channel}")
    click.echo(f"Godkend dem med: comms approve {' '.join(map(str, ids))}")


def _from_file(file: Path) -> OneOff:
    from comms.campaigns.post_file import read_post_file, read_text_file
    from comms.errors import PostFileError

    found: PostFile = read_post_file(file)
    wanted = OneOff(
        channels=found.channels,
        channels_where=found.where("channels"),
        at=found.at,
        at_where=found.where("at"),
        title=found.title,
        text=found.text,
        text_source=found.text_source,
        image=found.image,
        image_where=found.where("image"),
        alt=found.alt,
        alt_where=found.where("alt"),
        audience=found.audience,
        link=found.link,
        author=found.author,
    )
    for channel, path in found.variants.items():
        where = found.where(channel, "variants")
        if not path.is_file():
            raise PostFileError(f"{where}: variantfilen {path} findes ikke")
        wanted.variants[channel] = read_text_file(path)
        wanted.variant_where[channel] = where
    return wanted


def _apply_options(
    wanted: OneOff,
    channels: str | None,
    at: str | None,
    title: str | None,
    text_file: Path | None,
    text: str | None,
    image: Path | None,
    alt: str | None,
    variants: tuple[str, ...],
) -> None:
    from comms.campaigns.post_file import TextSource, read_text_file
    from comms.errors import PostFileError

    if channels is not None:
        wanted.channels = [c.strip() for c in channels.split(",") if c.strip()]
        wanted.channels_where = "--channels"
    if at is not None:
        wanted.at, wanted.at_where = at, "--at"
    wanted.title = title or wanted.title
    if text_file is not None and text is not None:
        raise click.UsageError("giv --text-file eller --text, ikke begge")
    if text_file is not None:
        if not text_file.is_file():
            raise PostFileError(f"tekstfilen {text_file} findes ikke", hint="--text-file")
        wanted.text, wanted.text_source = read_text_file(text_file.resolve())
    elif text is not None:
        wanted.text, wanted.text_source = text, TextSource(None, 1, tuple(text.splitlines()))
    if image is not None:
        wanted.image, wanted.image_where = image.resolve(), "--image"
    if alt is not None:
        wanted.alt, wanted.alt_where = alt, "--alt"
    for item in variants:
        channel, sign, name = item.partition("=")
        if not sign or not channel.strip() or not name.strip():
            raise click.BadParameter(
                f"{item!r} er ikke KANAL=FIL, f.eks. facebook=fb.md", param_hint="--variant"
            )
        path = Path(name.strip())
        if not path.is_file():
            raise PostFileError(f"variantfilen {path} (til {channel.strip()}) findes ikke")
        wanted.variants[channel.strip()] = read_text_file(path.resolve())
        wanted.variant_where[channel.strip()] = "--variant"


def _check_channels(settings: Settings, wanted: OneOff) -> None:
    from comms.errors import PostFileError

    if not wanted.channels:
        raise click.UsageError(
            "angiv kanalerne: --channels hjemmeside,facebook (i en fil: channels = [...])"
        )
    known = sorted(settings.channels)
    seen: list[str] = []
    for name in wanted.channels:
        if name in seen:
            raise PostFileError(f"{wanted.channels_where}: kanalen {name} står to gange")
        seen.append(name)
        if name not in settings.channels:
            import difflib  # here: `comms --help` does not need it

            close = difflib.get_close_matches(name, known, n=1)
            guess = f"mente du {close[0]!r}? " if close else ""
            raise PostFileError(
                f"{wanted.channels_where}: kanalen {name!r} findes ikke; {guess}"
                f"kanalerne er: {', '.join(known)}"
            )
    for name in wanted.variants:
        if name not in wanted.channels:
            raise PostFileError(
                f"{wanted.variant_where[name]}: en variant til {name!r}, som ikke er blandt "
                f"kanalerne ({', '.join(wanted.channels)})"
            )


def _when(settings: Settings, wanted: OneOff) -> tuple[datetime | None, str | None, str | None]:
    """(UTC instant, local wall text, a note on the DST rule), or Nones for "when approved".

    The planner's rule (comms.timeutil): a time in the spring-forward gap moves forward by the
    gap; a time the fall-back hour gives twice means the first (summer time). Both are said."""
    from comms.errors import PostFileError
    from comms.store.models import utcnow
    from comms.timeutil import local_to_utc

    if wanted.at is None:
        return None, None, None
    try:
        local = datetime.strptime(wanted.at.strip(), AT_FORMAT)  # noqa: DTZ007 (local wall time)
    except ValueError:
        message = f"{wanted.at!r} er ikke en lokal tid som {AT_EXAMPLE} (år-måned-dag time:minut)"
        if wanted.at_where == "--at":
            raise click.BadParameter(message, param_hint="--at") from None
        raise PostFileError(f"{wanted.at_where}: {message}") from None
    resolved = local_to_utc(local.date(), local.time(), settings.zone)
    if resolved.utc <= utcnow():
        from comms.content.danish import format_datetime

        raise PostFileError(
            f"{wanted.at_where}: {wanted.at} ({format_datetime(resolved.utc, settings.zone)}) er "
            "allerede passeret; vælg en senere tid, eller udelad --at, så går opslaget ud, "
            "når det er godkendt"
        )
    note = None
    if resolved.dst_adjusted:
        note = "flyttet frem forbi sommertidens spring"
    elif (
        local.replace(tzinfo=settings.zone, fold=1).utcoffset()
        != local.replace(tzinfo=settings.zone, fold=0).utcoffset()
    ):
        note = "tiden findes to gange, da uret stilles tilbage; det er den første (sommertid)"
    return resolved.utc, local.strftime(AT_FORMAT), note


def _timing(settings: Settings, when: datetime | None, note: str | None) -> str:
    """When the post goes out, in Danish, with the DST note if any."""
    from comms.content.danish import format_datetime

    if when is None:
        return "når det er godkendt"
    return format_datetime(when, settings.zone) + (f" ({note})" if note else "")


def _check_image(wanted: OneOff) -> str | None:
    """The image's absolute path, after checking it is a picture a channel can take."""
    from PIL import Image, UnidentifiedImageError

    from comms.errors import PostFileError

    if wanted.image is None:
        return None
    path = wanted.image
    if not path.is_file():
        raise PostFileError(f"{wanted.image_where}: billedet {path} findes ikke")
    try:
        with Image.open(path) as probe:
            kind = probe.format
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise PostFileError(f"{wanted.image_where}: {path} er ikke et billede") from None
    if kind not in IMAGE_FORMATS:
        raise PostFileError(
            f"{wanted.image_where}: {path} er {kind}; kun PNG, JPEG, GIF og WebP kan bruges"
        )
    return str(path)


def _build(settings: Settings, wanted: OneOff, image: str | None) -> list[ChannelPost]:
    from comms.content.lint import errors_of, text_length, text_limit, warnings_of
    from comms.content.oneoff import channel_link, channel_text, lint_one_off

    built = []
    for name in wanted.channels:
        raw, source = wanted.variants.get(name) or (wanted.text or "", wanted.text_source)
        text = channel_text(settings, raw, name)
        found = lint_one_off(settings, name, text, title=wanted.title, image=image, alt=wanted.alt)
        built.append(
            ChannelPost(
                channel=name,
                text=text,
                link=channel_link(settings, wanted.link, name) if wanted.link else None,
                source=source,
                errors=errors_of(found),
                warnings=warnings_of(found),
                length=text_length(text, settings.channels[name].type),
                limit=text_limit(settings.channels[name].type),
            )
        )
    return built


def _located(wanted: OneOff, post: ChannelPost, problem: LintProblem) -> str:
    """A finding in Danish, with the file and line to change where it comes from a file."""
    import re

    from comms.web.words import lint_message

    if problem.code in IMAGE_CODES or problem.code.startswith("alt-"):
        where = wanted.image_where if problem.code == "image-missing" else wanted.alt_where
    elif post.source is not None and post.source.path is not None:
        quoted = re.search(r'not "([^"]+)"|(#\w+)', problem.message)
        needle = (quoted.group(1) or quoted.group(2)) if quoted else ""
        where = post.source.where(needle)
    else:
        where = "--text"
    said = lint_message(problem.code, problem.message, length=post.length, limit=post.limit)
    return f"{where}: {post.channel}: {said}"


def _show(wanted: OneOff, built: list[ChannelPost], timing: str, *, dry_run: bool) -> None:
    """Each channel's post as it goes out (with --dry-run), and every warning."""
    for post in built:
        if dry_run:
            size = f"{post.length}" + (f" af {post.limit}" if post.limit else "")
            click.secho(f"{post.channel} | {timing} | {size} tegn", bold=True)
            if wanted.title:
                click.echo(f"  {wanted.title}")
            if wanted.image:
                click.echo(f"  [billede {wanted.image.name}: {wanted.alt or ''}]")
            for line in post.text.splitlines():
                click.echo(f"    {line}".rstrip())
            if post.link:
                click.echo(f"  link: {post.link}")
        for problem in post.warnings:
            click.secho(f"advarsel: {_located(wanted, post, problem)}", fg="yellow", err=True)
        if dry_run:
            click.echo()


def _write(
    app: AppContext,
    wanted: OneOff,
    built: list[ChannelPost],
    image: str | None,
    when: datetime | None,
    local_text: str | None,
    *,
    submit: bool,
) -> tuple[list[int], str]:
    """The new posts' ids and their story's short id."""
    from comms.queue import transitions as queue
    from comms.store.db import session_scope
    from comms.store.models import Post
    from comms.store.queries import short_story

    with session_scope(app.ready_database()) as session:
        ids = queue.compose(
            session,
            actor=wanted.author or current_actor(),
            channels=[p.channel for p in built],
            text=built[0].text,
            variants={p.channel: p.text for p in built},
            title=wanted.title or None,
            links={p.channel: p.link for p in built if p.link},
            image_path=image,
            image_alt=wanted.alt or None,
            scheduled_at=when,
            local_time=local_text,
            submit=submit,
            audience=wanted.audience,
        )
        first = session.get(Post, ids[0])
        return ids, short_story(first.story or "") if first else ""


def register(cli: click.Group) -> None:
    cli.add_command(post_command)
