"""review: response details, bonuses, job leases, poll rotation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    op.create_table(
        "bonuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("unique_request_token", sa.String(length=64), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["response_id"], ["responses.id"], name=op.f("fk_bonuses_response_id_responses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonuses")),
        sa.UniqueConstraint("unique_request_token", name=op.f("uq_bonuses_unique_request_token")),
    )
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bonuses_response_id"), ["response_id"], unique=False)

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_polled", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("accepted", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("auto_approval_due", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("reviewed", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("feedback", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("cost", sa.BigInteger(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_column("cost")
        batch_op.drop_column("feedback")
        batch_op.drop_column("reviewed")
        batch_op.drop_column("auto_approval_due")
        batch_op.drop_column("accepted")
        batch_op.drop_column("answer_error")

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("last_polled")

    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bonuses_response_id"))

    op.drop_table("bonuses")
    op.drop_table("job_leases")
