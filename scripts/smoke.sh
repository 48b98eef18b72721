#!/usr/bin/env bash
# Smoke test against a real PostgreSQL server: migrate a fresh database with the CLI, start the
# server on it, create a company over GraphQL with the admin token, check readiness, stop it.
# Usage: scripts/smoke.sh postgres://user@host:port/admin_db
set -euo pipefail
cd "$(dirname "$0")/.."
admin_url=$1
db="calsync_smoke_$$"
base=${admin_url%/*}
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
log=$(mktemp)
cleanup() {
  [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -f "$log"
}
trap cleanup EXIT

export DATABASE_URL="$base/$db" ADMIN_TOKEN="smoke-admin-token-$(date +%s)-abcdef" SECRETS_KEY="$(openssl rand -base64 32)" PORT=0 LOG_LEVEL=warn
npx calsync migrate
npx calsync migrate | grep -q "up to date"
npx calsync serve >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "GraphiQL:" "$log" && break; sleep 0.2; done
url=$(sed -n 's/.*GraphiQL: *\(http:[^ ]*\)\/graphql.*/\1/p' "$log" | head -1)
[ -n "$url" ] || { cat "$log"; exit 1; }
curl -fsS "$url/readyz" | grep -q '"ready"'
curl -fsS "$url/graphql" -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"query":"mutation { createCompany(input: {name: \"Smoke\", slug: \"smoke\"}) { slug } }"}' | grep -q '"smoke"'
curl -fsS "$url/graphql" -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"query":"{ coverageReport { totalCompanies } }"}' | grep -q '"totalCompanies":1'
curl -fsS "$url/metrics" | grep -q "calsync_queue_depth\|# HELP"
echo "smoke test passed on $(psql "$admin_url" -Atc 'SHOW server_version')"
