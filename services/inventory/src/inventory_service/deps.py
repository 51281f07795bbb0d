"""The inventory service's runtime and its route dependency, named once (docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from chassis.deps import get_runtime
from chassis.runtime import Runtime
from inventory_service.config import InventorySettings

# The inventory service keeps no collaborators of its own: its state is None.
InventoryRuntime = Runtime[InventorySettings, None]
RuntimeDep = Annotated[InventoryRuntime, Depends(get_runtime)]
