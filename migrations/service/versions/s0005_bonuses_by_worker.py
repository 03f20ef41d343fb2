"""bonuses by worker: the worker's dashboard lists a worker's bonuses

Revision ID: s0005
Revises: s0004
Create Date: 2026-12-06

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "s0005"
down_revision = "s0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bonuses_worker_id"), ["worker_id"], unique=False)


def downgrade():
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bonuses_worker_id"))
