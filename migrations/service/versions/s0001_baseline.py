"""baseline: the service's tables as they were before it had migrations

A database made then (by create_all) is stamped at this revision when first migrated.

Revision ID: s0001
Revises:
Create Date: 2026-11-23

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
    )
    op.create_table(
        "hit_types",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("reward_cents", sa.BigInteger(), nullable=False),
        sa.Column("assignment_duration", sa.BigInteger(), nullable=False),
        sa.Column("auto_approval_delay", sa.BigInteger(), nullable=False),
        sa.Column("qualification_requirements", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("notification", sa.JSON(), nullable=True),
        sa.Column("notification_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hit_types")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_hit_types_fingerprint")),
    )
    op.create_table(
        "worker_blocks",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_worker_blocks")),
        sa.UniqueConstraint("worker_id", name=op.f("uq_worker_blocks_worker_id")),
    )
    op.create_table(
        "worker_messages",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_worker_messages")),
    )
    with op.batch_alter_table("worker_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_worker_messages_worker_id"), ["worker_id"], unique=False
        )

    op.create_table(
        "hits",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hit_type_id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("max_assignments", sa.Integer(), nullable=False),
        sa.Column("requester_annotation", sa.String(length=255), nullable=True),
        sa.Column("unique_request_token", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expiration", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("review_status", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["hit_type_id"], ["hit_types.id"], name=op.f("fk_hits_hit_type_id_hit_types")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_hits")),
        sa.UniqueConstraint("id", name=op.f("uq_hits_id")),
        sa.UniqueConstraint("unique_request_token", name=op.f("uq_hits_unique_request_token")),
    )
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.create_index("ix_hits_status_expiration", ["status", "expiration"], unique=False)
        batch_op.create_index("ix_hits_type_status", ["hit_type_id", "status"], unique=False)

    op.create_table(
        "assignments",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hit_id", sa.String(length=64), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accept_time", sa.Float(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.Column("submit_time", sa.Float(), nullable=True),
        sa.Column("auto_approval_time", sa.Float(), nullable=True),
        sa.Column("approval_time", sa.Float(), nullable=True),
        sa.Column("rejection_time", sa.Float(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("requester_feedback", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"], name=op.f("fk_assignments_hit_id_hits")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_assignments")),
        sa.UniqueConstraint("id", name=op.f("uq_assignments_id")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index("ix_assignments_hit_status", ["hit_id", "status"], unique=False)
        batch_op.create_index(
            "ix_assignments_status_auto_approval", ["status", "auto_approval_time"], unique=False
        )
        batch_op.create_index(
            "ix_assignments_status_deadline", ["status", "deadline"], unique=False
        )
        batch_op.create_index("ix_assignments_worker", ["worker_id", "status"], unique=False)

    op.create_table(
        "bonuses",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("assignment_id", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("grant_time", sa.Float(), nullable=False),
        sa.Column("unique_request_token", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_bonuses_assignment_id_assignments")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_bonuses")),
        sa.UniqueConstraint("unique_request_token", name=op.f("uq_bonuses_unique_request_token")),
    )
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bonuses_assignment_id"), ["assignment_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("bonuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bonuses_assignment_id"))

    op.drop_table("bonuses")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_worker")
        batch_op.drop_index("ix_assignments_status_deadline")
        batch_op.drop_index("ix_assignments_status_auto_approval")
        batch_op.drop_index("ix_assignments_hit_status")

    op.drop_table("assignments")
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_index("ix_hits_type_status")
        batch_op.drop_index("ix_hits_status_expiration")

    op.drop_table("hits")
    with op.batch_alter_table("worker_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_messages_worker_id"))

    op.drop_table("worker_messages")
    op.drop_table("worker_blocks")
    op.drop_table("hit_types")
    op.drop_table("account")
