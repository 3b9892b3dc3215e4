"""an index for the calendar: published posts by the time they went out

Revision ID: 0010b
Revises: 0010
Create Date: 2026-12-01

The calendar places a published post at the time it went out and any other at the time it is
planned for; a month is read as the published posts of that span plus the others of that span.
The second part has its index (scheduled_at); without this one the first read every published
post there is (state alone), which with a year of posts is most of the table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010b"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_post_state_published", "post", ["state", "published_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_post_state_published", table_name="post")
