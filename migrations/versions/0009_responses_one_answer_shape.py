"""responses: one answer shape for the answers stored before it

Responses stored before this revision kept each answer as a list of its values
(``{"label": ["cat"]}``); since then a single value is a string and only a multi-valued
field is a list. Each stored answer is read again from its raw XML, with its hitblock's
template, so that one hitblock never answers in two shapes.

This data migration reads answers with the code of the release that ships it (the
parser and the template analysis); it changes no table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from app.templates import HITBLOCK_TYPES, item_multi_valued_fields
from mturk.answers import parse_answer

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
responses = sa.table(
    "responses",
    sa.column("id", sa.Integer),
    sa.column("item_id", sa.Integer),
    sa.column("data", JSON),
    sa.column("answer_xml", sa.Text),
    sa.column("answer_error", sa.Text),
)
items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("hitblock_id", sa.Integer),
    sa.column("params", JSON),
)
hitblocks = sa.table(
    "hitblocks",
    sa.column("id", sa.Integer),
    sa.column("type", sa.String),
    sa.column("template", sa.Text),
)
BATCH = 500


def upgrade():
    bind = op.get_bind()
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(
                responses.c.id,
                responses.c.answer_xml,
                hitblocks.c.type,
                hitblocks.c.template,
                items.c.params,
            )
            .join(items, items.c.id == responses.c.item_id)
            .join(hitblocks, hitblocks.c.id == items.c.hitblock_id)
            .where(responses.c.id > last_id)
            .order_by(responses.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            if not row.answer_xml:
                continue  # nothing to read again
            multi = item_multi_valued_fields(HITBLOCK_TYPES[row.type], row.template, row.params)
            parsed = parse_answer(row.answer_xml or "", multi)
            bind.execute(
                responses.update()
                .where(responses.c.id == row.id)
                .values(data=parsed.data, answer_error=parsed.error)
            )
        last_id = rows[-1].id


def downgrade():
    pass  # the earlier shape is not restored: every value stays as read by the new rule
