"""providers and instance offers

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-25 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('providers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_providers'))
    )
    op.create_table('offers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('instance', sa.String(length=120), nullable=False),
    sa.Column('gpu_id', sa.String(length=80), nullable=False),
    sa.Column('gpus_per_instance', sa.Integer(), nullable=False),
    sa.Column('vcpus', sa.Integer(), nullable=True),
    sa.Column('host_memory_gb', sa.Float(), nullable=True),
    sa.Column('interconnect', sa.Text(), nullable=True),
    sa.Column('network_gbps_per_gpu', sa.Float(), nullable=True),
    sa.Column('multi_node', sa.Boolean(), nullable=False),
    sa.Column('usd_per_instance_hour', sa.Float(), nullable=True),
    sa.Column('usd_per_gpu_hour', sa.Float(), nullable=True),
    sa.Column('spot_usd_per_instance_hour', sa.Float(), nullable=True),
    sa.Column('reserved_usd_per_instance_hour', sa.Float(), nullable=True),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('observed', sa.Date(), nullable=False),
    sa.Column('source_title', sa.Text(), nullable=False),
    sa.Column('source_url', sa.Text(), nullable=False),
    sa.Column('source_retrieved_on', sa.Date(), nullable=False),
    sa.Column('source_note', sa.Text(), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['gpu_id'], ['gpus.id'], name=op.f('fk_offers_gpu_id_gpus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers')),
    sa.UniqueConstraint('provider', 'instance', 'gpu_id', name=op.f('uq_offers_provider'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_gpu_id'), ['gpu_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offers_gpus_per_instance'), ['gpus_per_instance'], unique=False)
        batch_op.create_index(batch_op.f('ix_offers_provider'), ['provider'], unique=False)
        batch_op.create_index(batch_op.f('ix_offers_usd_per_gpu_hour'), ['usd_per_gpu_hour'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offers_usd_per_gpu_hour'))
        batch_op.drop_index(batch_op.f('ix_offers_provider'))
        batch_op.drop_index(batch_op.f('ix_offers_gpus_per_instance'))
        batch_op.drop_index(batch_op.f('ix_offers_gpu_id'))
    op.drop_table('offers')
    op.drop_table('providers')
