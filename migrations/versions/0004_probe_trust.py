"""probe runs: owning server instance, probe pid, partition, retraction

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ('owner_instance', sa.String(length=64)),
    ('owner_host', sa.String(length=255)),
    ('owner_pid', sa.Integer()),
    ('probe_pid', sa.Integer()),
    ('partition', sa.String(length=40)),
    ('retracted_at', sa.DateTime(timezone=True)),
    ('retracted_by', sa.String(length=80)),
)


def upgrade() -> None:
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
