#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first created: one database and one owner each
# for Camunda's secondary storage and for hireflow's domain store, so neither can read or
# lock the other's tables.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v camunda_password="$CAMUNDA_DB_PASSWORD" -v hireflow_password="$HIREFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE camunda LOGIN PASSWORD :'camunda_password';
CREATE DATABASE camunda OWNER camunda;
CREATE ROLE hireflow LOGIN PASSWORD :'hireflow_password';
CREATE DATABASE hireflow OWNER hireflow;
REVOKE ALL ON DATABASE camunda FROM PUBLIC;
REVOKE ALL ON DATABASE hireflow FROM PUBLIC;
SQL
