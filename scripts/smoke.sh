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
  local rc=$?
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  rm -f "$log" "$log.metrics"
  exit "$rc"
}
trap cleanup EXIT

# The project's own Node 24 first, as npm scripts and npx would find it.
export PATH="$PWD/node_modules/.bin:$PATH"
export DATABASE_URL="$base/$db" ADMIN_TOKEN="smoke-admin-token-$(date +%s)-abcdef" SECRETS_KEY="$(openssl rand -base64 32)" PORT=0 LOG_LEVEL=warn
node bin/calsync.mjs migrate
node bin/calsync.mjs migrate | grep -q "up to date"
node bin/calsync.mjs serve >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "GraphiQL:" "$log" && break; sleep 0.2; done
url=$(sed -n 's/.*GraphiQL: *\(http:[^ ]*\)\/graphql.*/\1/p' "$log" | head -1)
[ -n "$url" ] || { cat "$log"; exit 1; }
curl -fsS "$url/readyz" | grep -q '"ready"'
curl -fsS "$url/graphql" -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"query":"mutation { createCompany(input: {name: \"Smoke\", slug: \"smoke\"}) { slug } }"}' | grep -q '"smoke"'
curl -fsS "$url/graphql" -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"query":"{ coverageReport { totalCompanies } }"}' | grep -q '"totalCompanies":1'
# Read whole bodies before grep: grep -q stops early and curl would fail writing to the pipe.
curl -fsS "$url/metrics" -o "$log.metrics"
grep -q "# HELP" "$log.metrics"
kill -TERM "$pid"
wait "$pid"   # graceful shutdown exits 0
pid=
echo "smoke test passed on $(psql "$admin_url" -Atc 'SHOW server_version')"
