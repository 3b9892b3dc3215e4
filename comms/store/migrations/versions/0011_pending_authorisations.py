"""begun authorisations: sign-ins and channel connections under way, shared by every process

Revision ID: 0011
Revises: 0010b
Create Date: 2026-12-01

A single sign-on or a channel's »Forbind« sends the browser to a service, which sends it back
to the workspace within minutes. What the return must match (state, nonce, PKCE verifier, the
service's client) was kept in one process's memory, so a restart, or a second workspace process
or server on the same PostgreSQL database, refused the return. The row's id is a SHA-256 hash
of the key the browser brings back, and the payload is sealed (comms/store/pending.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import comms.store.models

revision: str = "0011"
down_revision: str | None = "0010b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = comms.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "pending_authorisation",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("username", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_authorisation")),
    )
    op.create_index(
        "ix_pending_authorisation_kind_created",
        "pending_authorisation",
        ["kind", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_pending_authorisation_expires_at",
        "pending_authorisation",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_pending_authorisation_expires_at", table_name="pending_authorisation")
    op.drop_index("ix_pending_authorisation_kind_created", table_name="pending_authorisation")
    op.drop_table("pending_authorisation")
