"""poll indexes: the poll cycle's queries read open work only, not history

Partial indexes (SQLite and PostgreSQL both have them): items whose HIT is not done yet,
published items by when they were last polled (the multi-worker rotation), and responses
awaiting auto-approval by their due time. Each predicate is written as the poll cycle's
queries write it: SQLite uses a partial index only when the query repeats its terms.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OPEN_HIT = (sa.column("hit_done") == sa.false()) & sa.column("hit_id").is_not(None)
PUBLISHED = sa.column("status") == "published"
SUBMITTED = sa.column("status") == "submitted"


def upgrade():
    op.create_index(
        "ix_items_open_hits",
        "items",
        ["hitblock_id", "status"],
        unique=False,
        sqlite_where=OPEN_HIT,
        postgresql_where=OPEN_HIT,
    )
    op.create_index(
        "ix_items_published_last_polled",
        "items",
        ["last_polled", "id"],
        unique=False,
        sqlite_where=PUBLISHED,
        postgresql_where=PUBLISHED,
    )
    op.create_index(
        "ix_responses_submitted_due",
        "responses",
        ["auto_approval_due"],
        unique=False,
        sqlite_where=SUBMITTED,
        postgresql_where=SUBMITTED,
    )


def downgrade():
    op.drop_index("ix_responses_submitted_due", table_name="responses")
    op.drop_index("ix_items_published_last_polled", table_name="items")
    op.drop_index("ix_items_open_hits", table_name="items")
