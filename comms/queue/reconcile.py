"""Settle `unknown` posts by asking the channel, never by a blind resend.

An adapter that can look a post up (`Channel.find`: by idempotency key, record key, slug or
text since the due time) settles it as published when it finds it. Not finding it is no proof
of absence (a look-up sees only recent posts, and a service may show a post late), so such a
post stays `unknown` for a person to settle: `comms reconcile ID --published|--resend|--failed`.
A look-up that fails (the service down, slow or refusing the token) leaves that post `unknown`
and the others are still asked: reconcile is run when a service has just been misbehaving, so
one failed call must not leave every later post unsettled.
"""

from __future__ import annotations

from sqlmodel import col, select

from comms.channels.answers import checked_receipt
from comms.channels.base import Channel
from comms.channels.credentials import TokenSource
from comms.channels.registry import create_channel, missing_secrets
from comms.config import Settings
from comms.errors import AuthError, ChannelError, MalformedAnswer, QueueError
from comms.queue.transitions import outgoing_of, resolve_unknown
from comms.store.db import session_scope
from comms.store.models import Post, PostState


def reconcile_all(
    settings: Settings, *, only: int | None = None, tokens: TokenSource | None = None
) -> list[str]:
    """Try every unknown post (or just `only`); return one line per post saying what happened.
    `tokens`: where connected channels' stored tokens come from (the caller's token store)."""
    lines: list[str] = []
    with session_scope(settings.database_url) as session:
        query = select(Post).where(Post.state == PostState.UNKNOWN).order_by(col(Post.id))
        if only is not None:
            query = query.where(Post.id == only)
        posts = list(session.exec(query).all())
    adapters: dict[str, Channel] = {}  # one per channel: a Bluesky adapter logs in once
    refused: dict[str, str] = {}  # channel -> why its credentials failed (not asked again)
    for post in posts:
        assert post.id is not None  # read from the database
        channel = settings.channels.get(post.channel)
        if channel is not None:
            channel = channel.with_tokens(tokens)
        if channel is None:
            lines.append(
                f"post {post.id}: channel {post.channel} cannot be asked; "
                "check it and run `comms reconcile ID --published|--resend|--failed`"
            )
            continue
        if channel.name in refused:
            lines.append(
                f"post {post.id}: {post.channel} cannot be asked ({refused[channel.name]}); "
                "left unknown"
            )
            continue
        if channel.name not in adapters:
            missing = missing_secrets(channel)
            if missing:
                lines.append(
                    f"post {post.id}: {post.channel} cannot be asked while ${', $'.join(missing)} "
                    "is not set; set it, or run `comms reconcile ID --published|--resend|--failed`"
                )
                continue
            adapters[channel.name] = create_channel(channel)
        try:
            found = adapters[channel.name].find(outgoing_of(post))
            receipt = None if found is None else checked_receipt(found, what=channel.name)
        except MalformedAnswer as exc:
            lines.append(
                f"post {post.id}: {post.channel} answered the look-up oddly ({exc}); left unknown"
            )
            continue
        except ChannelError as exc:
            if isinstance(exc, AuthError):
                refused[channel.name] = str(exc)
            lines.append(f"post {post.id}: {post.channel} could not be asked ({exc}); left unknown")
            continue
        if receipt is None:
            lines.append(
                f"post {post.id}: {post.channel} cannot confirm it; check by hand and "
                "run `comms reconcile ID --published|--resend|--failed`"
            )
            continue
        try:
            with session_scope(settings.database_url) as session:
                resolve_unknown(
                    session,
                    post.id,
                    PostState.PUBLISHED,
                    actor="reconcile",
                    url=receipt.url,
                    external_id=receipt.external_id,
                )
        except QueueError:
            lines.append(f"post {post.id}: settled meanwhile by someone else; left as it is")
            continue
        lines.append(f"post {post.id}: found on {post.channel} -> published")
    return lines
