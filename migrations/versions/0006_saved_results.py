"""saved results: content hash (dedup), stored size, created_at index (retention)

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-25 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('recommendations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('size_bytes', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_recommendations_content_hash'), ['content_hash']
        )
        batch_op.create_index(
            batch_op.f('ix_recommendations_created_at'), ['created_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('recommendations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recommendations_created_at'))
        batch_op.drop_constraint(batch_op.f('uq_recommendations_content_hash'), type_='unique')
        batch_op.drop_column('size_bytes')
        batch_op.drop_column('content_hash')
