"""personal calendar feeds, and an index for the queue's keyset order

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-10

`calendar_feed` keeps only the sha256 of each person's secret feed address; revoking or renewing
sets `revoked_at`, so the old address answers 404. `ix_post_scheduled_at_id` serves the queue
page's ORDER BY scheduled_at, id (and its keyset "after this post"), which no other index does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import comms.store.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = comms.store.models.UTCDateTime


def upgrade() -> None:
    op.create_index("ix_post_scheduled_at_id", "post", ["scheduled_at", "id"], unique=False)
    op.create_table(
        "calendar_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("last_used_at", UTC(timezone=True), nullable=True),
        sa.Column("revoked_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_calendar_feed_user_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )
    op.create_index("ix_calendar_feed_user_id", "calendar_feed", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calendar_feed_user_id", table_name="calendar_feed")
    op.drop_table("calendar_feed")
    op.drop_index("ix_post_scheduled_at_id", table_name="post")
