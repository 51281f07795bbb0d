#!/usr/bin/env bash
# One database and one login role per database-owning service: each owns its database and
# never reads another's (docs/architecture.md, "The map").
#
# Run once by the postgres image's entrypoint on an empty data directory (it is mounted at
# /docker-entrypoint-initdb.d/). To run it again: `docker compose down -v` drops the volume.
#
#   SERVICE_DB_PASSWORD  the password of every service role (compose passes a marked
#                        development default; set your own in .env).
#
# The gateway keeps nothing durable and has no database.
set -euo pipefail

: "${SERVICE_DB_PASSWORD:?SERVICE_DB_PASSWORD must be set}"

create_service_database() {
    # psql variables, quoted by psql itself (:"name" identifier, :'password' literal):
    # "order" is a reserved word and needs the identifier quoting.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v name="$1" -v password="$SERVICE_DB_PASSWORD" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
    echo "init: database and role $1"
}

create_service_database catalog
create_service_database order
create_service_database inventory
create_service_database payment
create_service_database membership
create_service_database notification
create_service_database analytics
