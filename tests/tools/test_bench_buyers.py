"""The bench's flash-sale buyers are written straight into membership's and notification's
tables with membership's own password hasher: when those services move a module, this fails
here instead of half-way through `make bench`."""

from __future__ import annotations

from bench.buyers import bench_password_hash
from bench.storefront import PASSWORD
from membership_service.adapters.passwords import HASHER


def test_the_bench_password_hash_is_membership_s_and_verifies() -> None:
    hashed = bench_password_hash()
    assert hashed.startswith("$argon2id$")
    assert HASHER.verify(hashed, PASSWORD)


def test_the_bench_finds_the_tables_it_inserts_buyers_into() -> None:
    from membership_service.tables import CredentialRow, MemberRow
    from notification_service.tables import RecipientRow

    assert {MemberRow.__tablename__, CredentialRow.__tablename__, RecipientRow.__tablename__}
