"""crisis pause: stop every scheduled post on a scope until a person resumes

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-01

`crisis_pause` keeps each stop with who and why, and who lifted it when. Posts due while their
channel is paused get the state `held` (a string column: no schema change for it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import comms.store.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = comms.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "crisis_pause",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=True),
        sa.Column("channels", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paused_by", sa.String(length=200), nullable=False),
        sa.Column("paused_at", UTC(timezone=True), nullable=False),
        sa.Column("resumed_by", sa.String(length=200), nullable=True),
        sa.Column("resumed_at", UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crisis_pause")),
    )


def downgrade() -> None:
    # a held post is a state the older code does not know; `failed` never sends it, and the
    # older code's notices tell the team about it
    op.execute(
        "UPDATE post SET state = 'failed', last_error = 'held by a crisis pause when the "
        "schema was downgraded' WHERE state = 'held'"
    )
    op.drop_table("crisis_pause")
