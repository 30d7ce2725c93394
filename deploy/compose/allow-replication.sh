#!/bin/sh
# Run once by the postgres image when it initialises the primary's data (docker-entrypoint-initdb.d):
# the standby (docker-compose.yml `replica`) copies and streams from it as the database's user.
set -e
echo "host replication $POSTGRES_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"
