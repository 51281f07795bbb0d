from chassis.migrations import run_env
from payment_service import tables

run_env(tables.SQLModel.metadata)
