#!/usr/bin/env bash
# Installs what testing Paddock needs on top of what running it needs
# (scripts/setup.sh, run first): Podman's Docker-compatible API with runc
# and catatonit (the Docker backend's tests), debootstrap (the sandbox
# image built from Debian packages), Debian's Chromium (the dashboard's
# end-to-end tests drive it; never a browser download), Prometheus'
# promtool (the /metrics exposition, and a real Prometheus scrapes it),
# the real MCP servers the MCP client's tests run against, the real
# OpenID provider the single sign-on tests run against, and
# Schemathesis, the SWE-bench harness and actionlint. `make test` and
# `make bench` run it.
# Idempotent and quick when everything is present.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"

"$here/setup.sh"

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v catatonit >/dev/null 2>&1 || need+=(catatonit)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
# The remote engine tests: Podman behind a TLS terminator requiring client
# certificates, and behind a private sshd (scripts/podman-engines.sh).
command -v stunnel >/dev/null 2>&1 || need+=(stunnel4)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
# shellcheck: actionlint runs it on the workflows' `run:` scripts
# (scripts/lint-workflows.sh).
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
"$here/apt-install.sh" "the tests" "${need[@]}"

# Debian's prometheus package (for promtool); its recommends are not needed.
if ! command -v promtool >/dev/null 2>&1; then
    "$here/apt-install.sh" --no-install-recommends "the metrics tests" prometheus
fi

# The real MCP servers the MCP client's tests run against (npm, PyPI).
"$here/mcp-servers.sh"

# The real OpenID provider of the single sign-on tests (npm oidc-provider).
"$here/oidc-provider.sh"

# Schemathesis (PyPI), which checks the API against its OpenAPI document.
"$here/schemathesis.sh"

# The evaluation tools (PyPI): the official SWE-bench harness, whose own
# predictions loader the evaluation tests use, and actionlint, which lints
# .github/workflows/ (scripts/lint-workflows.sh).
"$here/eval-tools.sh"

# The toolchains of Python and JavaScript plugins (PyPI componentize-py, npm
# componentize-js + jco): the SDK walkthroughs and polyglot capability tests.
"$here/plugin-toolchains.sh"
# The OCI plugin tests' registry (Debian docker-registry) and minisign.
"$here/oci-registry.sh"
