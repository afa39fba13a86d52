"""api tokens and probe runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:27:51.369222
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_api_tokens_token_sha256'))
    )
    op.create_table('probe_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('quick', sa.Boolean(), nullable=False),
    sa.Column('only', sa.JSON(), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('backend', sa.String(length=16), nullable=True),
    sa.Column('device_kind', sa.String(length=200), nullable=True),
    sa.Column('gpu_id', sa.String(length=80), nullable=True),
    sa.Column('device', sa.JSON(), nullable=True),
    sa.Column('jax_version', sa.String(length=40), nullable=True),
    sa.Column('submitted_by', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_probe_runs'))
    )
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_probe_runs_gpu_id'), ['gpu_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_probe_runs_status'), ['status'], unique=False)
        batch_op.create_index('uq_probe_runs_one_local_active', ['source'], unique=True, sqlite_where=sa.text("status IN ('queued', 'running') AND source = 'local'"), postgresql_where=sa.text("status IN ('queued', 'running') AND source = 'local'"))

    op.create_table('probe_results',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('probe', sa.String(length=40), nullable=False),
    sa.Column('dtype', sa.String(length=20), nullable=True),
    sa.Column('size', sa.String(length=80), nullable=True),
    sa.Column('tflops', sa.Float(), nullable=True),
    sa.Column('gb_s', sa.Float(), nullable=True),
    sa.Column('median_s', sa.Float(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['probe_runs.id'], name=op.f('fk_probe_results_run_id_probe_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_probe_results'))
    )
    with op.batch_alter_table('probe_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_probe_results_run_id'), ['run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('probe_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_probe_results_run_id'))

    op.drop_table('probe_results')
    with op.batch_alter_table('probe_runs', schema=None) as batch_op:
        batch_op.drop_index('uq_probe_runs_one_local_active', sqlite_where=sa.text("status IN ('queued', 'running') AND source = 'local'"), postgresql_where=sa.text("status IN ('queued', 'running') AND source = 'local'"))
        batch_op.drop_index(batch_op.f('ix_probe_runs_status'))
        batch_op.drop_index(batch_op.f('ix_probe_runs_gpu_id'))

    op.drop_table('probe_runs')
    op.drop_table('api_tokens')
