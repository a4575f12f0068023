//! MCP end to end, against real servers installed from npm and PyPI
//! (`scripts/mcp-servers.sh`; see `tests/common/mcp_servers.rs`) and a fault
//! server for what real servers do only on bad days.

mod adapters;
mod e2e;
mod everything;
mod faults;
mod transport;
