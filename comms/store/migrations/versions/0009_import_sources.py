"""an index to find a post by the service's id on its channel; final figure snapshots

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

`comms import` matches each row of a service's export (Meta's Post ID, X's Post id, LinkedIn's
URN) to the post already there with that `external_id` on the same channel, whether imported
before or published by comms itself; without this index every batch would scan the post table.
`metric_sample.final` marks the last read of a post before the service stops keeping its figures
(Meta: two years), which the report names.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_post_channel_external_id", "post", ["channel", "external_id"], unique=False)
    with op.batch_alter_table("metric_sample") as batch:
        batch.add_column(
            sa.Column("final", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("metric_sample") as batch:
        batch.drop_column("final")
    op.drop_index("ix_post_channel_external_id", table_name="post")
