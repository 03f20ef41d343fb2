"""hitblocks: notification_destination (the queue its HIT type was subscribed to)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("hitblocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notification_destination", sa.String(length=2048)))


def downgrade():
    # ALTER TABLE ... DROP COLUMN, on SQLite too (3.35+): batch mode would copy the table,
    # and dropping the old copy is refused while items point at its rows.
    op.drop_column("hitblocks", "notification_destination")
