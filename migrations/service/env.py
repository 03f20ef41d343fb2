"""Alembic environment of the MTurk-compatible service's own database.

Run by ``mturk.service.schema`` (on start, and by ``hitblocks db upgrade``), which hands it an
open connection; the service's models are the target. Its version table has a name of its
own, so it can never be mistaken for the API's.
"""

from alembic import context

from mturk.service.schema import VERSION_TABLE
from mturk.service.store import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
