"""publishing: HIT type per hitblock, HIT and request token per item

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("hitblocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hit_type_id", sa.String(length=64), nullable=True))

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unique_request_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hit_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("published", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_items_hit_id"), ["hit_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_items_unique_request_token"), ["unique_request_token"]
        )


def downgrade():
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_items_unique_request_token"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_items_hit_id"))
        batch_op.drop_column("published")
        batch_op.drop_column("hit_id")
        batch_op.drop_column("unique_request_token")

    with op.batch_alter_table("hitblocks", schema=None) as batch_op:
        batch_op.drop_column("hit_type_id")
