from chassis.migrations import run_env
from notification_service import tables

run_env(tables.SQLModel.metadata)
