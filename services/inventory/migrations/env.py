from chassis.migrations import run_env
from inventory_service import tables

run_env(tables.SQLModel.metadata)
