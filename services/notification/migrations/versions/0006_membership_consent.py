"""recipients.membership_consent: the marketing consent membership last told, so that only a
change of it reaches the preferences (a profile edit no longer undoes a withdrawal made here)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for existing members: what membership last told is not known (the next profile
    # event is then applied only if it withdraws consent, service/recipients.py).
    op.add_column("recipients", sa.Column("membership_consent", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("recipients", "membership_consent")
