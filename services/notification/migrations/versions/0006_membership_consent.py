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
    op.add_column("recipients", sa.Column("membership_consent", sa.Boolean(), nullable=True))
    # What membership last told is not known for existing members: the consent in force here
    # (from either side, the latest) is the best guess, and so the next profile edit changes
    # nothing unless the profile's consent really differs from it.
    op.execute(
        "UPDATE recipients SET membership_consent = COALESCE((SELECT marketing_consent FROM"
        " preferences WHERE preferences.member_id = recipients.member_id), false)"
    )


def downgrade() -> None:
    op.drop_column("recipients", "membership_consent")
