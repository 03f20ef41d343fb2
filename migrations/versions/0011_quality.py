"""quality: gold items, gold policy, flagged responses, worker blocks and exclusions, and
responses looked up by worker

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade():
    with op.batch_alter_table("hitblocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gold_policy", JSON, nullable=True))
        batch_op.add_column(
            sa.Column("exclusion_qualification_type_id", sa.String(length=64), nullable=True)
        )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gold", JSON, nullable=True))
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gold_correct", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("flagged", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("flag_reason", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_responses_worker_id"), ["worker_id"])
    op.create_table(
        "worker_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("last_attempt", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_worker_blocks_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_blocks")),
        sa.UniqueConstraint("account_id", "worker_id", name=op.f("uq_worker_blocks_account_id")),
    )
    with op.batch_alter_table("worker_blocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worker_blocks_worker_id"), ["worker_id"])
    op.create_table(
        "worker_exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hitblock_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("last_attempt", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["hitblock_id"],
            ["hitblocks.id"],
            name=op.f("fk_worker_exclusions_hitblock_id_hitblocks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_exclusions")),
        sa.UniqueConstraint(
            "hitblock_id", "worker_id", name=op.f("uq_worker_exclusions_hitblock_id")
        ),
    )


def downgrade():
    op.drop_table("worker_exclusions")
    with op.batch_alter_table("worker_blocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_blocks_worker_id"))
    op.drop_table("worker_blocks")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_responses_worker_id"))
        batch_op.drop_column("flag_reason")
        batch_op.drop_column("flagged")
        batch_op.drop_column("gold_correct")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("gold")
    with op.batch_alter_table("hitblocks", schema=None) as batch_op:
        batch_op.drop_column("exclusion_qualification_type_id")
        batch_op.drop_column("gold_policy")
