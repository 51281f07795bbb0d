"""The analytics service's runtime and its route dependency, named once (docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from analytics_service.config import AnalyticsSettings
from chassis.deps import get_runtime
from chassis.runtime import Runtime

# The projection needs no collaborator besides its database: its state is None.
AnalyticsRuntime = Runtime[AnalyticsSettings, None]
RuntimeDep = Annotated[AnalyticsRuntime, Depends(get_runtime)]
