//! MCP end to end, against real servers installed from npm and PyPI
//! (`scripts/mcp-servers.sh`; see `tests/common/mcp_servers.rs`) and a fault
//! server for what real servers do only on bad days.

mod common;

#[path = "mcp/adapters.rs"]
mod adapters;
#[path = "mcp/e2e.rs"]
mod e2e;
#[path = "mcp/everything.rs"]
mod everything;
#[path = "mcp/faults.rs"]
mod faults;
#[path = "mcp/transport.rs"]
mod transport;
