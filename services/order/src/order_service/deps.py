"""The order service's runtime and its route dependency, named once (docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from chassis.deps import get_runtime
from chassis.runtime import Runtime
from order_service.config import OrderSettings

# The order service keeps no collaborators of its own: its state is None.
OrderRuntime = Runtime[OrderSettings, None]
RuntimeDep = Annotated[OrderRuntime, Depends(get_runtime)]
