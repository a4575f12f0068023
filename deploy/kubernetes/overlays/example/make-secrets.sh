#!/usr/bin/env bash
# Writes the files the example's secretGenerator reads (kustomization.yaml)
# into DIR (default: ./secrets beside this script), each mode 0600:
#   master-key         base64 of 32 random bytes: the master key every host shares
#   api-token          the API service token ($PADDOCK_TOKEN, scope write)
#   admin-token        the admin service token ($PADDOCK_ADMIN_TOKEN)
#   admin-user         the first admin's name (ADMIN_USER, default "admin")
#   admin-password     the first admin's password (random)
#   postgres-password  the example PostgreSQL's password
#   database-url       postgres://paddock:<that password>@paddock-postgres:5432/paddock
# A file that exists is kept (a second run never changes a key the hosts
# already use); delete one to make it anew.
#
#   deploy/kubernetes/overlays/example/make-secrets.sh [DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-$here/secrets}"
admin_user="${ADMIN_USER:-admin}"

umask 077
mkdir -p "$dir"

random_hex() { # BYTES
    od -An -vtx1 -N"$1" /dev/urandom | tr -d ' \n'
}

# write NAME VALUE: creates DIR/NAME unless it exists; no trailing newline.
write() {
    if [ -e "$dir/$1" ]; then
        echo "make-secrets: $dir/$1 exists, kept"
    else
        printf '%s' "$2" >"$dir/$1"
        echo "make-secrets: wrote $dir/$1"
    fi
}

write master-key "$(head -c 32 /dev/urandom | base64 -w0)"
write api-token "$(random_hex 32)"
write admin-token "$(random_hex 32)"
write admin-user "$admin_user"
write admin-password "$(random_hex 16)"
write postgres-password "$(random_hex 24)"
# The URL carries the password that is in the file now (hex: nothing to escape).
write database-url "postgres://paddock:$(cat "$dir/postgres-password")@paddock-postgres:5432/paddock"
