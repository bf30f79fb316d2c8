#!/usr/bin/env bash
# Revocation latency across replicas: builds gatehouse and bench/revocation,
# then times logout, `user logout`, disable and policy change on replica 0
# until every other replica refuses the session (see bench/revocation/main.go).
#
# Settings (environment): REVOCATION_REPLICAS (3), REVOCATION_TRIALS (200),
# REVOCATION_ACTIONS (logout,user-logout,disable,policy),
# GATEHOUSE_TEST_POSTGRES_URL, GATEHOUSE_TEST_REDIS_ADDR.
# The table goes to stdout and bench/revocation-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/gatehouse" ./cmd/gatehouse
go build -o "$work/revocation" ./bench/revocation
out=bench/revocation-$(date +%Y%m%d-%H%M%S).txt
"$work/revocation" -bin "$work/gatehouse" \
  -replicas "${REVOCATION_REPLICAS:-3}" -trials "${REVOCATION_TRIALS:-200}" \
  -actions "${REVOCATION_ACTIONS:-logout,user-logout,disable,policy}" | tee "$out"
