"""news feeds: each feed's polling state, and the entries already dealt with

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

`feed_state` keeps one row per configured feed: the validators for a conditional GET, when it
was first polled (entries seen then are not made into posts) and since when it fails.
`feed_entry` holds one row per entry dealt with; its unique (feed, entry_key) is what makes an
entry become posts exactly once, across restarts and several daemons.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import comms.store.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = comms.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "feed_state",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("first_polled_at", UTC(timezone=True), nullable=True),
        sa.Column("last_polled_at", UTC(timezone=True), nullable=True),
        sa.Column("last_ok_at", UTC(timezone=True), nullable=True),
        sa.Column("failing_since", UTC(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("entries_seen", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feed_state")),
    )
    op.create_table(
        "feed_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("entry_key", sa.String(length=500), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("story", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_entry")),
        sa.UniqueConstraint("feed", "entry_key", name="uq_feed_entry_key"),
    )


def downgrade() -> None:
    op.drop_table("feed_entry")
    op.drop_table("feed_state")
