#!/usr/bin/env bash
# `promtool check metrics` on a real scrape: starts the production command (`npm start`'s
# command, OpenTelemetry on), does some real work (GraphQL, a signed webhook and its job, a bad
# signature), scrapes /metrics and lints it. Uses the PostgreSQL server given as $1 (a fresh
# database on it), else an embedded one in a temporary DATA_DIR.
# Usage: scripts/check-metrics.sh [postgres://user@host:port/admin_db]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { echo "promtool not found (Debian package prometheus)"; exit 1; }
export PATH="$PWD/node_modules/.bin:$PATH"
log=$(mktemp) scrape=$(mktemp)
data=$(mktemp -d) && chmod 755 "$data"
admin_url=${1:-}
db="calsync_metrics_$$"
cleanup() {
  local rc=$?
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  [ -z "$admin_url" ] || psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  rm -rf "$log" "$scrape" "$data"
  exit "$rc"
}
trap cleanup EXIT
secret="check-metrics-secret-$$"
export ADMIN_TOKEN="check-metrics-admin-token-$$-abcdef" SECRETS_KEY="$(openssl rand -base64 32)" PORT=0 LOG_LEVEL=warn \
  DATA_DIR="$data" CALCOM_WEBHOOK_SECRET="$secret"
if [ -n "$admin_url" ]; then
  psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
  export DATABASE_URL="${admin_url%/*}/$db"
fi
start=$(node -p 'require("./package.json").scripts.start.replace(/^exec /, "")')
$start >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -qE "Graph(i)?QL:" "$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
url=$(sed -En 's/.*Graph(i)?QL: *(http:[^ ]*)\/graphql.*/\2/p' "$log" | head -1)
[ -n "$url" ] || { cat "$log"; exit 1; }
gql() { curl -fsS "$url/graphql" -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' -d "$1" >/dev/null; }
gql '{"query":"mutation { createCompany(input: {name: \"Metrics\", slug: \"metrics\"}) { id } }"}'
gql '{"query":"{ coverageReport { totalCompanies } companies(first: 5) { totalCount } }"}'
body='{"triggerEvent":"PING","createdAt":"2026-01-01T00:00:00.000Z","payload":{}}'
sig=$(printf %s "$body" | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.* //')
curl -fsS -o /dev/null "$url/webhooks/calcom" -H 'content-type: application/json' -H "x-cal-signature-256: $sig" --data-binary "$body"
curl -sS -o /dev/null "$url/webhooks/calcom" -H 'content-type: application/json' -H "x-cal-signature-256: $(printf '0%.0s' $(seq 64))" --data-binary "$body"
for _ in $(seq 1 50); do curl -fsS "$url/metrics" >"$scrape"; grep -q '^calsync_jobs_total' "$scrape" && break; sleep 0.2; done
echo "scraped $(grep -c '^[a-z]' "$scrape") samples of $(grep -c '^# TYPE' "$scrape") metrics"
promtool check metrics <"$scrape"
echo "promtool check metrics: no problems"
