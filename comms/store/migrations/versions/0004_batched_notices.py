"""batched notices: how far each one reached

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09

A batched notice (posts awaiting approval, one notice per organisation and approver) records
the newest submission it covers, so the next one starts where it ended. Existing notices are
one per event and keep `through` empty; the column is added in place, no table is copied.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import comms.store.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("through", comms.store.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("notice") as batch_op:
        batch_op.drop_column("through")
