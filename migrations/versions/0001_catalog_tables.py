"""catalog tables: gpus, sources, prices, versions

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 00:41:28.979385
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('catalog_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('gpu_count', sa.Integer(), nullable=False),
    sa.Column('price_count', sa.Integer(), nullable=False),
    sa.Column('model_count', sa.Integer(), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_versions'))
    )
    with op.batch_alter_table('catalog_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_versions_version'), ['version'], unique=False)

    op.create_table('gpus',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('vendor', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('architecture', sa.String(length=80), nullable=False),
    sa.Column('segment', sa.String(length=16), nullable=False),
    sa.Column('form_factor', sa.String(length=16), nullable=False),
    sa.Column('release_date', sa.String(length=10), nullable=True),
    sa.Column('memory_gb', sa.Float(), nullable=False),
    sa.Column('memory_type', sa.String(length=16), nullable=False),
    sa.Column('memory_bus_width_bits', sa.Integer(), nullable=True),
    sa.Column('memory_bandwidth_gb_s', sa.Float(), nullable=False),
    sa.Column('fp64_dense_tflops', sa.Float(), nullable=True),
    sa.Column('fp64_matrix_dense_tflops', sa.Float(), nullable=True),
    sa.Column('fp32_dense_tflops', sa.Float(), nullable=True),
    sa.Column('tf32_dense_tflops', sa.Float(), nullable=True),
    sa.Column('bf16_dense_tflops', sa.Float(), nullable=True),
    sa.Column('fp16_dense_tflops', sa.Float(), nullable=True),
    sa.Column('fp8_dense_tflops', sa.Float(), nullable=True),
    sa.Column('int8_dense_tops', sa.Float(), nullable=True),
    sa.Column('fp4_dense_tflops', sa.Float(), nullable=True),
    sa.Column('tdp_w', sa.Float(), nullable=True),
    sa.Column('pcie_gen', sa.Integer(), nullable=True),
    sa.Column('interconnect_type', sa.String(length=40), nullable=True),
    sa.Column('interconnect_bandwidth_gb_s', sa.Float(), nullable=True),
    sa.Column('interconnect_note', sa.Text(), nullable=True),
    sa.Column('launch_price_usd', sa.Float(), nullable=True),
    sa.Column('ecosystem_platform', sa.String(length=16), nullable=False),
    sa.Column('compute_capability', sa.String(length=16), nullable=True),
    sa.Column('rocm_supported', sa.Boolean(), nullable=True),
    sa.Column('supports_pytorch', sa.Boolean(), nullable=True),
    sa.Column('supports_jax', sa.Boolean(), nullable=True),
    sa.Column('supports_tensorflow', sa.Boolean(), nullable=True),
    sa.Column('notes', sa.JSON(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('catalog_file', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gpus'))
    )
    with op.batch_alter_table('gpus', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gpus_ecosystem_platform'), ['ecosystem_platform'], unique=False)
        batch_op.create_index(batch_op.f('ix_gpus_memory_gb'), ['memory_gb'], unique=False)
        batch_op.create_index(batch_op.f('ix_gpus_segment'), ['segment'], unique=False)
        batch_op.create_index(batch_op.f('ix_gpus_vendor'), ['vendor'], unique=False)

    op.create_table('gpu_sources',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('gpu_id', sa.String(length=80), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('retrieved_on', sa.Date(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=True),
    sa.Column('location', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['gpu_id'], ['gpus.id'], name=op.f('fk_gpu_sources_gpu_id_gpus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gpu_sources'))
    )
    with op.batch_alter_table('gpu_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gpu_sources_gpu_id'), ['gpu_id'], unique=False)

    op.create_table('prices',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('gpu_id', sa.String(length=80), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('instance', sa.String(length=80), nullable=True),
    sa.Column('gpus_per_instance', sa.Integer(), nullable=True),
    sa.Column('region', sa.String(length=80), nullable=True),
    sa.Column('instance_usd_per_hour', sa.Float(), nullable=True),
    sa.Column('usd_per_gpu_hour', sa.Float(), nullable=True),
    sa.Column('purchase_usd', sa.Float(), nullable=True),
    sa.Column('observed', sa.String(length=10), nullable=False),
    sa.Column('source_title', sa.Text(), nullable=False),
    sa.Column('source_url', sa.Text(), nullable=False),
    sa.Column('source_retrieved_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['gpu_id'], ['gpus.id'], name=op.f('fk_prices_gpu_id_gpus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prices'))
    )
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prices_gpu_id'), ['gpu_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prices_gpu_id'))

    op.drop_table('prices')
    with op.batch_alter_table('gpu_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gpu_sources_gpu_id'))

    op.drop_table('gpu_sources')
    with op.batch_alter_table('gpus', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gpus_vendor'))
        batch_op.drop_index(batch_op.f('ix_gpus_segment'))
        batch_op.drop_index(batch_op.f('ix_gpus_memory_gb'))
        batch_op.drop_index(batch_op.f('ix_gpus_ecosystem_platform'))

    op.drop_table('gpus')
    with op.batch_alter_table('catalog_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_versions_version'))

    op.drop_table('catalog_versions')
