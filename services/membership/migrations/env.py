from chassis.migrations import run_env
from membership_service import tables

run_env(tables.SQLModel.metadata)
