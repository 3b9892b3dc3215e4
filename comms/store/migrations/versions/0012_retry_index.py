"""an index for the daemon's next wake-up: queued posts waiting to be tried again

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

A queued post is due at its planned time, or at `next_attempt_at` once a failed try set one.
The daemon asks after every pass when the next post falls due. The planned times have their
index (state, scheduled_at); the retry times had none, so each pass read every queued post.
The index holds only posts with a retry time: few at any time, and nothing to write for the
many that never fail (a plan's or an import's posts).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

WAITING = "next_attempt_at IS NOT NULL"

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_post_retry",
        "post",
        ["state", "next_attempt_at"],
        unique=False,
        sqlite_where=sa.text(WAITING),
        postgresql_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_post_retry", table_name="post")
