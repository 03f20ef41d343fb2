"""accounts: requesters with access keys and a ledger; workers with passwords and invitations

Everything made before requester accounts (HIT types, HITs, bonuses, blocks) belongs to one
requester, Hitblocks' own (``hitblocks``), which keeps the old single balance; its access
key is issued on the next start. Uniqueness that was global (HIT type properties, request
tokens, blocks) becomes per requester.

Revision ID: s0002
Revises: s0001
Create Date: 2026-11-23

"""

import time

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None

# Databases made before migrations have unnamed constraints: reflected, they get these names.
CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
OWNED = {
    # table: (the globally unique column whose uniqueness becomes per requester, new name)
    "hit_types": ("fingerprint", "uq_hit_types_requester_fingerprint"),
    "hits": ("unique_request_token", "uq_hits_requester_token"),
    "bonuses": ("unique_request_token", "uq_bonuses_requester_token"),
    "worker_blocks": ("worker_id", "uq_worker_blocks_requester_worker"),
}


def _unique_name(table: str, column: str) -> str:
    """The name of the unique constraint on ``column`` alone, whoever named it."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if constraint["column_names"] == [column] and constraint["name"]:
            return constraint["name"]
    return f"uq_{table}_{column}"


def upgrade():
    op.create_table(
        "requesters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requesters")),
        sa.UniqueConstraint("name", name=op.f("uq_requesters_name")),
    )
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["requesters.id"], name=op.f("fk_access_keys_requester_id_requesters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_keys")),
    )
    op.create_index(op.f("ix_access_keys_requester_id"), "access_keys", ["requester_id"])
    op.create_table(
        "ledger",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["requesters.id"], name=op.f("fk_ledger_requester_id_requesters")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger")),
    )
    op.create_index(op.f("ix_ledger_requester_id"), "ledger", ["requester_id"])
    op.create_table(
        "worker_accounts",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_worker_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_worker_accounts_email")),
        sa.UniqueConstraint("id", name=op.f("uq_worker_accounts_id")),
    )
    op.create_table(
        "worker_invitations",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.Column("worker_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_worker_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_worker_invitations_token_hash")),
    )

    bind = op.get_bind()
    balance = bind.execute(sa.text("SELECT balance_cents FROM account WHERE id = 1")).scalar()
    owned = any(
        bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first()
        for table in (*OWNED, "worker_messages")
    )
    if balance is not None or owned:
        bind.execute(
            sa.text(
                "INSERT INTO requesters (name, balance_cents, created_at)"
                " VALUES ('hitblocks', :balance, :now)"
            ),
            {"balance": balance or 0, "now": time.time()},
        )
    owner = bind.execute(sa.text("SELECT id FROM requesters WHERE name = 'hitblocks'")).scalar()
    if balance:  # the ledger explains every balance: this one opens it
        bind.execute(
            sa.text(
                "INSERT INTO ledger (requester_id, kind, amount_cents, fee_cents, balance_cents,"
                " reference, at) VALUES (:owner, 'funding', :balance, 0, :balance,"
                " 'opening balance', :now)"
            ),
            {"owner": owner, "balance": balance, "now": time.time()},
        )
    op.drop_table("account")

    for table in (*OWNED, "worker_messages"):
        with op.batch_alter_table(table, naming_convention=CONVENTION) as batch_op:
            batch_op.add_column(sa.Column("requester_id", sa.Integer(), nullable=True))
        if owner is not None:
            bind.execute(sa.text(f"UPDATE {table} SET requester_id = :owner"), {"owner": owner})
    for table, (column, name) in OWNED.items():
        old_unique = _unique_name(table, column)
        with op.batch_alter_table(table, naming_convention=CONVENTION) as batch_op:
            batch_op.alter_column("requester_id", existing_type=sa.Integer(), nullable=False)
            batch_op.drop_constraint(old_unique, type_="unique")
            batch_op.create_unique_constraint(name, ["requester_id", column])
            batch_op.create_foreign_key(
                f"fk_{table}_requester_id_requesters", "requesters", ["requester_id"], ["id"]
            )
    with op.batch_alter_table("worker_messages", naming_convention=CONVENTION) as batch_op:
        batch_op.create_foreign_key(
            "fk_worker_messages_requester_id_requesters", "requesters", ["requester_id"], ["id"]
        )
    op.create_index("ix_hits_requester_status", "hits", ["requester_id", "status"])
    op.create_index(op.f("ix_worker_blocks_worker_id"), "worker_blocks", ["worker_id"])
    if bind.dialect.name == "sqlite":
        # The one table not rebuilt above: rebuilt to name its unnamed constraints, so that
        # an adopted database is the same as one made by the migrations.
        with op.batch_alter_table("assignments", naming_convention=CONVENTION, recreate="always"):
            pass


def downgrade():
    op.drop_index(op.f("ix_worker_blocks_worker_id"), table_name="worker_blocks")
    op.drop_index("ix_hits_requester_status", table_name="hits")
    with op.batch_alter_table("worker_messages") as batch_op:
        batch_op.drop_constraint("fk_worker_messages_requester_id_requesters", type_="foreignkey")
        batch_op.drop_column("requester_id")
    for table, (column, name) in OWNED.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_requester_id_requesters", type_="foreignkey")
            batch_op.drop_constraint(name, type_="unique")
            batch_op.create_unique_constraint(f"uq_{table}_{column}", [column])
            batch_op.drop_column("requester_id")
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
    )
    op.execute(
        "INSERT INTO account (id, balance_cents)"
        " SELECT 1, COALESCE(SUM(balance_cents), 0) FROM requesters"
    )
    op.drop_table("worker_invitations")
    op.drop_table("worker_accounts")
    op.drop_index(op.f("ix_ledger_requester_id"), table_name="ledger")
    op.drop_table("ledger")
    op.drop_index(op.f("ix_access_keys_requester_id"), table_name="access_keys")
    op.drop_table("access_keys")
    op.drop_table("requesters")
