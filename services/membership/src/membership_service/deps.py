"""Membership's runtime type and route dependency, named once (docs/architecture.md, "The
layers"): use cases take a `MembershipRuntime`, routes a `RuntimeDep`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from chassis.deps import get_runtime
from chassis.runtime import Runtime
from membership_service.adapters.signing import KeyRing
from membership_service.config import MembershipSettings


@dataclass(frozen=True, slots=True)
class MembershipState:
    """What only membership holds besides the chassis parts, built once at start-up."""

    keyring: KeyRing  # signs access tokens; its public keys are the JWKS


MembershipRuntime = Runtime[MembershipSettings, MembershipState]
RuntimeDep = Annotated[MembershipRuntime, Depends(get_runtime)]
