# Paddock: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
DATA_DIR ?= $(HOME)/.local/share/paddock
# The data dir's paddock.toml when there is one, else the example.
CONFIG ?= $(if $(wildcard $(DATA_DIR)/paddock.toml),$(DATA_DIR)/paddock.toml,paddock.example.toml)

.PHONY: setup setup-test plugins sandboxd dashboard openapi build run test lint unit-test bench clean FORCE

# The dashboard's sources (src/api/schema.d.ts is generated from openapi.json):
# dashboard/dist is rebuilt only when one of them is newer than the stamp.
DASHBOARD_SOURCES := $(shell find dashboard/src -type f ! -path dashboard/src/api/schema.d.ts) \
	$(wildcard dashboard/public/*) dashboard/index.html dashboard/package.json \
	dashboard/package-lock.json dashboard/tsconfig.json dashboard/vite.config.ts dashboard/openapi.json
DASHBOARD_STAMP := $(TARGET_DIR)/dashboard.stamp

## Install what building and running need and is missing: the Rust wasm32-wasip2 target,
## git, bubblewrap (+ slirp4netns, iproute2), Node.js + npm and the dashboard's npm packages.
setup:
	./scripts/setup.sh

## Also install what only the tests and benchmarks need: Podman (+ runc, catatonit),
## debootstrap, Chromium, promtool, the test MCP servers, Schemathesis.
setup-test:
	./scripts/setup-test.sh

## Build the plugins (WebAssembly components) and stage them next to the binary.
plugins: setup
	./scripts/build-plugins.sh

## Build the sandbox command server (paddock-sandboxd), statically linked so that it runs
## in any container image, in a target dir of its own (its flags never invalidate the main
## build), and install it next to the debug and release binaries, where Paddock finds it.
SANDBOXD_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
sandboxd:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p paddock-sandboxd \
		--features server --target $(SANDBOXD_TRIPLE) --target-dir $(TARGET_DIR)/sandboxd
	@mkdir -p $(TARGET_DIR)/debug $(TARGET_DIR)/release
	install -m 0755 $(TARGET_DIR)/sandboxd/$(SANDBOXD_TRIPLE)/release/paddock-sandboxd $(TARGET_DIR)/debug/
	install -m 0755 $(TARGET_DIR)/sandboxd/$(SANDBOXD_TRIPLE)/release/paddock-sandboxd $(TARGET_DIR)/release/

## Build the web dashboard (dashboard/dist, embedded into release binaries) when its
## sources changed; dashboard/dist is rewritten only when the build's files differ.
dashboard: $(DASHBOARD_STAMP)

$(DASHBOARD_STAMP): $(DASHBOARD_SOURCES) $(if $(wildcard dashboard/dist/index.html),,FORCE) | setup
	./scripts/build-dashboard.sh
	@mkdir -p $(@D) && touch $@

## Regenerate dashboard/openapi.json (and the dashboard's API types) from the host's routes.
openapi:
	$(CARGO) run -q -p paddock -- openapi > dashboard/openapi.json
	npm --prefix dashboard run gen

## Build everything: plugins, the dashboard and the release binary (target/release/paddock).
build: plugins sandboxd dashboard
	$(CARGO) build --release -p paddock

## Set up, build, and start Paddock (API on 127.0.0.1:7700; Ctrl-C stops it).
run: build
	$(TARGET_DIR)/release/paddock --data-dir "$(DATA_DIR)" serve --config "$(CONFIG)"

## Format and lint checks (host natively, plugins as wasm32-wasip2, the dashboard's TypeScript).
lint: setup
	$(CARGO) fmt --all --check
	python3 scripts/module-cycles.py
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	npm --prefix dashboard run lint
	$(CARGO) clippy --target wasm32-wasip2 -p paddock-fs-tools -p paddock-shell -p paddock-git -p paddock-mcp-redact -p paddock-test-probe -p paddock-test-wrong-world -p paddock-test-adapter-probe -p paddock-default-assessor -p paddock-test-assessor-probe -p paddock-sdk -p paddock-scan -- -D warnings

## Set up and run every test: lint, unit tests (Rust and the dashboard's Vitest), end-to-end
## tests against the real binary (the dashboard's in Chromium; screenshots in target/dashboard-e2e).
test: setup-test plugins sandboxd dashboard lint
	./scripts/validate-deploy.sh
	./scripts/lint-workflows.sh
	npm --prefix dashboard test
	$(CARGO) test --workspace --no-fail-fast

## Validate the deployment files offline (deploy/: Kubernetes manifests, docker-compose.yml)
## with validators from PyPI; breaks copies of them to prove a broken file fails.
.PHONY: validate-deploy
validate-deploy:
	./scripts/validate-deploy.sh

## Unit tests only, quick after a change: the Rust unit tests of every workspace crate
## (libraries and binaries; no end-to-end tests), the SDK's documentation examples and the
## dashboard's Vitest.
unit-test: setup
	$(CARGO) test --workspace --lib --bins
	$(CARGO) test -p paddock-sdk -p paddock-scan --all-features --doc
	npm --prefix dashboard test

## Benchmarks (figures are printed, never asserted; tests/bench.rs runs each at --smoke size).
bench: setup-test build
	$(TARGET_DIR)/release/paddock bench plugins
	$(TARGET_DIR)/release/paddock bench agents
	$(TARGET_DIR)/release/paddock bench mcp
	$(TARGET_DIR)/release/paddock bench policy
	$(TARGET_DIR)/release/paddock bench users
	$(TARGET_DIR)/release/paddock bench hosts
	# bwrap, and docker through Podman's API on a private store (image built locally).
	DOCKER_HOST=$$(./scripts/podman-service.sh "$(abspath $(TARGET_DIR))/podman") && \
	  eval "$$(./scripts/podman-service.sh --env "$(abspath $(TARGET_DIR))/podman")" && \
	  ./scripts/sandbox-image.sh --engine podman && \
	  DOCKER_HOST=$$DOCKER_HOST $(TARGET_DIR)/release/paddock bench sandbox

clean:
	$(CARGO) clean

# Forces a rebuild (of the dashboard when dashboard/dist is missing).
FORCE:
