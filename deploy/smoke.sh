#!/usr/bin/env bash
# Smoke test of the production image against this machine's PostgreSQL and Redis (host network):
# migrate with the image, start the API and a worker from it, wait for /health, register a user,
# upload an image through the running container and read it back, see the worker send the
# verification email, then stop everything.
#
#   deploy/build.sh && deploy/smoke.sh          (make image smoke)
#
# Settings: IMAGE, SMOKE_DATABASE (a database of its own on 127.0.0.1:5432, recreated),
# SMOKE_REDIS_URL, SMOKE_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${CONTAINER_ENGINE:-$(command -v podman || command -v docker || true)}
IMAGE=${IMAGE:-peal-api:latest}
DB=${SMOKE_DATABASE:-peal_smoke}
REDIS=${SMOKE_REDIS_URL:-redis://127.0.0.1:6379/13}
PORT=${SMOKE_PORT:-3917}
API=http://127.0.0.1:$PORT
engine=("$ENGINE")
if [ "$(basename "$ENGINE")" = podman ]; then
  engine+=(--runtime "${PODMAN_RUNTIME:-runc}" --cgroup-manager cgroupfs)
fi
step() { printf '\n== %s\n' "$*"; }

data=$(mktemp -d)
chmod 0777 "$data"  # the image runs as an unprivileged user
names=()
cleanup() {
  for name in "${names[@]:-}"; do
    [ -n "$name" ] || continue
    "${engine[@]}" logs "$name" > "$data/$name.log" 2>&1 || true
    "${engine[@]}" rm -f "$name" > /dev/null 2>&1 || true
  done
  echo "(container logs kept in $data)"
}
trap cleanup EXIT

step "a database of its own: $DB"
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
redis-cli -u "$REDIS" flushdb > /dev/null

secret() { python3 -c "import secrets; print(secrets.token_urlsafe(48))"; }
envs=(
  -e NODE_ENV=production
  -e "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$DB"
  -e "REDIS_URL=$REDIS"
  -e "JWT_SECRET=$(secret)"
  -e "JWT_REFRESH_SECRET=$(secret)"
  -e "STORAGE_SIGNING_SECRET=$(secret)"
  -e "PORT=$PORT"
  -e "PUBLIC_URL=$API"
  -e FRONTEND_URL=http://localhost:5173
  -e PAYMENT_PROVIDER=stripe -e STRIPE_SECRET_KEY=sk_test_smoke -e STRIPE_WEBHOOK_SECRET=whsec_smoke
  -e EMAIL_BACKEND=file
  -e LOG_JSON=true
)
run=("${engine[@]}" run --network host -v "$data:/data" "${envs[@]}")

step "migrations, once, from the image"
"${run[@]}" --rm "$IMAGE" migrate

step "the API and a worker"
names+=(peal-smoke-api peal-smoke-worker)
"${engine[@]}" rm -f peal-smoke-api peal-smoke-worker > /dev/null 2>&1 || true
"${run[@]}" -d --name peal-smoke-api "$IMAGE" serve --host 127.0.0.1 --port "$PORT" > /dev/null
"${run[@]}" -d --name peal-smoke-worker "$IMAGE" worker > /dev/null
"${engine[@]}" exec peal-smoke-api id

step "waiting for $API/health"
for _ in $(seq 1 60); do
  if curl -fsS "$API/health" > "$data/health.json" 2>/dev/null; then break; fi
  sleep 1
done
cat "$data/health.json"; echo

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

step "register"
email="smoke-$(date +%s)@example.com"
token=$(curl -fsS "$API/api/auth/register" -H 'Content-Type: application/json' \
  -d "{\"name\": \"Smoke Test\", \"email\": \"$email\", \"password\": \"Smoke-Test-Passw0rd-42\"}" \
  | json '["accessToken"]')
echo "registered $email"

step "upload an image through the container"
python3 - "$data/pixel.png" <<'PY'
import struct, sys, zlib
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
raw = b"\x00\xff\x00\x00"
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
presigned=$(curl -fsS "$API/api/uploads/presigned-url" "${auth[@]}" \
  -d '{"fileName": "pixel.png", "contentType": "image/png"}')
upload_url=$(echo "$presigned" | json '["uploadUrl"]')
key=$(echo "$presigned" | json '["key"]')
curl -fsS -X PUT "$upload_url" -H "Content-Type: image/png" --data-binary "@$data/pixel.png"; echo
file_url=$(curl -fsS "$API/api/uploads/complete" "${auth[@]}" \
  -d "{\"key\": \"$key\", \"fileName\": \"pixel.png\", \"contentType\": \"image/png\"}" \
  | json '["url"]')
status=$(curl -s -o /dev/null -w '%{http_code}' "$file_url")
echo "uploaded $key -> $file_url ($status)"
[ "$status" = 200 ]

step "the worker sends the verification email"
for _ in $(seq 1 30); do
  if grep -qls "$email" "$data"/mail/*.eml 2>/dev/null; then break; fi
  sleep 1
done
grep -ls "$email" "$data"/mail/*.eml

step "smoke test passed"
