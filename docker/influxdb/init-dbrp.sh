#!/bin/bash
# Runs once when the InfluxDB 2 container initialises (docker-entrypoint-initdb.d): maps the
# bucket to the InfluxQL database/retention policy claudescope/autogen, and creates the v1
# credentials Chronograf and Grafana use for InfluxQL.
set -euo pipefail
bucket_id=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --org "${DOCKER_INFLUXDB_INIT_ORG}" --hide-headers | cut -f1)
influx v1 dbrp create --bucket-id "${bucket_id}" --db claudescope --rp autogen --default --org "${DOCKER_INFLUXDB_INIT_ORG}"
influx v1 auth create --username "${INFLUXDB_V1_USER}" --password "$(cat /run/secrets/influxdb_v1_password)" \
  --read-bucket "${bucket_id}" --org "${DOCKER_INFLUXDB_INIT_ORG}"
