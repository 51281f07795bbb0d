from chassis.migrations import run_env
from order_service import tables

run_env(tables.SQLModel.metadata)
