//! The end-to-end tests: one test binary (it links wasmtime and the whole
//! host once, not once per suite), one module per suite, each in its own
//! file beside this one. A test's name starts with its suite:
//! `cargo test --test e2e agents::` runs one suite,
//! `cargo test --test e2e api::bad_requests` one test.
//!
//! Every suite shares this process, and tests of different suites run in
//! parallel: nothing here may change process-wide state (environment
//! variables, the working directory, signal handlers); what is scarce is
//! shared through `common` (one Podman service, one counter for network
//! namespaces).

// Test code: helpers may unwrap (a panic is a failed test, with its
// location) and need no API docs.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

mod agents;
mod api;
mod bench;
mod capabilities;
mod capabilities_polyglot;
mod cost;
mod dashboard;
mod dashboard_evals;
mod dashboard_workflows;
mod delegation;
mod demo;
mod egress;
mod environments;
mod eval_tools;
mod evals;
mod file_tools;
mod hardening;
mod hooks;
mod hosts;
mod install;
mod isolation;
mod llm_client;
mod mcp;
mod metrics;
mod oidc;
mod openapi;
mod plugin_host;
mod plugins_oci;
mod policy;
mod providers;
mod quotas;
mod redaction;
mod responses;
mod sandbox;
mod sandbox_bwrap;
mod sandbox_docker;
mod sandbox_engines;
mod scripted_model;
mod sdk_polyglot;
mod sdk_walkthrough;
mod truth;
mod users;
mod workflows;
mod workspaces;
