"""the token store: a channel's credentials, sealed with COMMS_SECRET_KEY

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

`comms channels connect` stores what a service's own authorisation flow gives (access and
refresh tokens, an OAuth 1.0a secret, a session) so the daemon can refresh it unattended. The
secret parts live only in `sealed` (AES-GCM); the other columns are facts for people and for
the refresher's compare-and-set (`version`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import comms.store.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = comms.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "channel_token",
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=20), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=True),
        sa.Column("refreshed_at", UTC(timezone=True), nullable=True),
        sa.Column("connected_at", UTC(timezone=True), nullable=False),
        sa.Column("connected_by", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_token")),
    )


def downgrade() -> None:
    op.drop_table("channel_token")
