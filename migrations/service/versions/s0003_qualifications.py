"""qualifications: qualification types and workers' scores

Revision ID: s0003
Revises: s0002
Create Date: 2026-11-23

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "qualification_types",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto_granted", sa.Boolean(), nullable=False),
        sa.Column("auto_granted_value", sa.Integer(), nullable=True),
        sa.Column("is_requestable", sa.Boolean(), nullable=False),
        sa.Column("retry_delay", sa.BigInteger(), nullable=True),
        sa.Column("test", sa.Text(), nullable=True),
        sa.Column("answer_key", sa.Text(), nullable=True),
        sa.Column("test_duration", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["requesters.id"],
            name=op.f("fk_qualification_types_requester_id_requesters"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_qualification_types")),
        sa.UniqueConstraint("id", name=op.f("uq_qualification_types_id")),
        sa.UniqueConstraint("requester_id", "name", name="uq_qualification_types_requester_name"),
    )
    with op.batch_alter_table("qualification_types", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_qualification_types_requester_id"), ["requester_id"], unique=False
        )

    op.create_table(
        "worker_qualifications",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("qualification_type_id", sa.String(length=64), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=True),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("integer_value", sa.Integer(), nullable=True),
        sa.Column("locale_country", sa.String(length=2), nullable=True),
        sa.Column("locale_subdivision", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("granted_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["requesters.id"],
            name=op.f("fk_worker_qualifications_requester_id_requesters"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_worker_qualifications")),
        sa.UniqueConstraint(
            "qualification_type_id", "worker_id", name="uq_worker_qualifications_type_worker"
        ),
    )
    with op.batch_alter_table("worker_qualifications", schema=None) as batch_op:
        batch_op.create_index("ix_worker_qualifications_worker", ["worker_id"], unique=False)


def downgrade():
    with op.batch_alter_table("worker_qualifications", schema=None) as batch_op:
        batch_op.drop_index("ix_worker_qualifications_worker")

    op.drop_table("worker_qualifications")
    with op.batch_alter_table("qualification_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qualification_types_requester_id"))

    op.drop_table("qualification_types")
