from analytics_service import tables
from chassis.migrations import run_env

run_env(tables.SQLModel.metadata)
