//! Host bindings of the plugin contract, one module per supported WIT
//! version (see `wit/README.md`). Each version's types are converted to the
//! host's own types in `runtime.rs`, so supporting a new version adds a
//! module here without touching the rest of the host.

/// Bindings of `paddock:plugin@0.1.0`.
pub mod v0_1_0 {
    /// The version string as it appears in export names.
    pub const VERSION: &str = "0.1.0";

    /// The `tool` world.
    pub mod tool {
        wasmtime::component::bindgen!({
            path: "../../wit/v0.1.0",
            world: "tool",
            imports: { default: async | trappable },
            exports: { default: async },
        });
    }

    /// The `risk-assessor` world.
    pub mod risk_assessor {
        wasmtime::component::bindgen!({
            path: "../../wit/v0.1.0",
            world: "risk-assessor",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "paddock:plugin/types": super::tool::paddock::plugin::types,
                "paddock:plugin/log": super::tool::paddock::plugin::log,
            },
        });
    }

    /// The `mcp-adapter` world.
    pub mod mcp_adapter {
        wasmtime::component::bindgen!({
            path: "../../wit/v0.1.0",
            world: "mcp-adapter",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "paddock:plugin/log": super::tool::paddock::plugin::log,
            },
        });
    }
}
