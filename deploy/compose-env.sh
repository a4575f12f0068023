#!/usr/bin/env bash
# Writes deploy/.env (mode 0600), the secrets docker-compose.yml reads: the
# PostgreSQL password, the master key both hosts share, the service tokens
# and the first admin's password. An existing .env is kept (the database
# and the stored keys already depend on it): delete it to start anew.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
env_file="${1:-$here/.env}"
if [ -e "$env_file" ]; then
    echo "compose-env: $env_file exists, kept"
    exit 0
fi
hex() { od -An -vtx1 -N"$1" /dev/urandom | tr -d ' \n'; }
umask 077
cat >"$env_file" <<ENV
POSTGRES_PASSWORD=$(hex 24)
PADDOCK_MASTER_KEY=$(head -c 32 /dev/urandom | base64 -w0)
PADDOCK_TOKEN=$(hex 32)
PADDOCK_ADMIN_TOKEN=$(hex 32)
PADDOCK_ADMIN_USER=admin
PADDOCK_ADMIN_PASSWORD=$(hex 16)
ENV
echo "compose-env: wrote $env_file (the first admin is \`admin\`, password in the file)"
