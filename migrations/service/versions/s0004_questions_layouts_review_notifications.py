"""questions, layouts, review and notifications

Qualification requests, uploaded files, HIT layouts, review policies' results and
actions, and the outbox of notifications; HITs keep their layout, their review policies
and whether their expiry was told (HITs that expired before: told, so no old expiry is sent
now; live ones: not yet).

Revision ID: s0004
Revises: s0003
Create Date: 2026-12-06

"""

import time

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "s0004"
down_revision = "s0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "review_actions",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hit_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("policy_name", sa.String(length=64), nullable=False),
        sa.Column("action_name", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("complete_time", sa.Float(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_review_actions")),
        sa.UniqueConstraint("id", name=op.f("uq_review_actions_id")),
    )
    with op.batch_alter_table("review_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_actions_hit_id"), ["hit_id"], unique=False)

    op.create_table(
        "review_results",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("policy_name", sa.String(length=64), nullable=False),
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("question_id", sa.String(length=255), nullable=True),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_review_results")),
    )
    with op.batch_alter_table("review_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_results_hit_id"), ["hit_id"], unique=False)

    op.create_table(
        "hit_layouts",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["requesters.id"], name=op.f("fk_hit_layouts_requester_id_requesters")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_hit_layouts")),
        sa.UniqueConstraint("id", name=op.f("uq_hit_layouts_id")),
    )
    with op.batch_alter_table("hit_layouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hit_layouts_requester_id"), ["requester_id"], unique=False
        )

    op.create_table(
        "outbound_notifications",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["requesters.id"],
            name=op.f("fk_outbound_notifications_requester_id_requesters"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbound_notifications")),
    )
    with op.batch_alter_table("outbound_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbound_notifications_due", ["delivered_at", "next_attempt_at"], unique=False
        )

    op.create_table(
        "qualification_requests",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("qualification_type_id", sa.String(length=64), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("submitted_at", sa.Float(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("test", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["requesters.id"],
            name=op.f("fk_qualification_requests_requester_id_requesters"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_qualification_requests")),
        sa.UniqueConstraint("id", name=op.f("uq_qualification_requests_id")),
    )
    with op.batch_alter_table("qualification_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_qualification_requests_requester_status", ["requester_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_qualification_requests_worker_type",
            ["worker_id", "qualification_type_id"],
            unique=False,
        )

    op.create_table(
        "uploaded_files",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.String(length=64), nullable=False),
        sa.Column("question_identifier", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("download_token_hash", sa.String(length=64), nullable=True),
        sa.Column("download_expires_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_uploaded_files_assignment_id_assignments"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_uploaded_files")),
        sa.UniqueConstraint(
            "assignment_id", "question_identifier", name="uq_uploaded_files_assignment_question"
        ),
        sa.UniqueConstraint(
            "download_token_hash", name=op.f("uq_uploaded_files_download_token_hash")
        ),
    )
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hit_layout_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("assignment_review_policy", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("hit_review_policy", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("expiry_told", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    # A HIT still live will expire after the upgrade: that expiry is told.
    hits = sa.table(
        "hits", sa.column("expiration", sa.Float()), sa.column("expiry_told", sa.Boolean())
    )
    op.execute(hits.update().where(hits.c.expiration > time.time()).values(expiry_told=False))


def downgrade():
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_column("expiry_told")
        batch_op.drop_column("hit_review_policy")
        batch_op.drop_column("assignment_review_policy")
        batch_op.drop_column("hit_layout_id")

    op.drop_table("uploaded_files")
    with op.batch_alter_table("qualification_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_qualification_requests_worker_type")
        batch_op.drop_index("ix_qualification_requests_requester_status")

    op.drop_table("qualification_requests")
    with op.batch_alter_table("outbound_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_notifications_due")

    op.drop_table("outbound_notifications")
    with op.batch_alter_table("hit_layouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hit_layouts_requester_id"))

    op.drop_table("hit_layouts")
    with op.batch_alter_table("review_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_results_hit_id"))

    op.drop_table("review_results")
    with op.batch_alter_table("review_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_actions_hit_id"))

    op.drop_table("review_actions")
