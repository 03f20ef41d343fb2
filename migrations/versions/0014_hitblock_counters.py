"""hitblocks: num_items and num_items_completed kept as counters, backfilled from the items

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("hitblocks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("num_items", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("num_items_completed", sa.Integer(), server_default="0", nullable=False)
        )
    # What the correlated COUNTs answered until now (the items' status index serves both).
    op.execute(
        "UPDATE hitblocks SET"
        " num_items = (SELECT count(*) FROM items"
        " WHERE items.hitblock_id = hitblocks.id AND items.status != 'deleted'),"
        " num_items_completed = (SELECT count(*) FROM items"
        " WHERE items.hitblock_id = hitblocks.id AND items.status = 'completed')"
    )


def downgrade():
    # ALTER TABLE ... DROP COLUMN, on SQLite too (3.35+): batch mode would copy the table,
    # and dropping the old copy is refused while items point at its rows.
    op.drop_column("hitblocks", "num_items_completed")
    op.drop_column("hitblocks", "num_items")
