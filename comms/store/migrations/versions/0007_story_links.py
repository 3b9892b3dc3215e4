"""a post that links to the page an earlier post published

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-20

`post.link_from_post_id` names the post whose published page a campaign step links to
(`link_from = "STEP.CHANNEL"`): the daemon claims the post only once that page is out, and
fills its address in. Nullable, so existing posts are untouched; on SQLite the table is copied
(a foreign key cannot be added in place), on PostgreSQL the column is added in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("post") as batch_op:
        batch_op.add_column(sa.Column("link_from_post_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_post_link_from_post_id_post"), "post", ["link_from_post_id"], ["id"]
        )
        batch_op.create_index("ix_post_link_from_post_id", ["link_from_post_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("post") as batch_op:
        batch_op.drop_index("ix_post_link_from_post_id")
        batch_op.drop_constraint(batch_op.f("fk_post_link_from_post_id_post"), type_="foreignkey")
        batch_op.drop_column("link_from_post_id")
