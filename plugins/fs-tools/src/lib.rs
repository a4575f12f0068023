//! `fs-tools`: Paddock's built-in file tools — `read_file`, `write_file`,
//! `edit_file`, `list_dir` and `search` — over the agent's workspace, which
//! the host mounts at `/workspace` inside the component.
//!
//! The tool logic takes the workspace root as a parameter ([`Workspace`]),
//! so the unit tests run it natively against temporary directories.

pub mod list;
pub mod paths;
pub mod read;
pub mod search;
pub mod util;
pub mod write;

use paddock_sdk::prelude::*;

pub use paths::{WORKSPACE, Workspace, WsPath};

/// The plugin's tools.
pub fn toolbox() -> Toolbox {
    Toolbox::new()
        .read_only_tool(
            "read_file",
            read::DESCRIPTION,
            |input: read::ReadFileInput, ctx: &CallContext| {
                read::read_file(&Workspace::from_context(ctx), input)
            },
        )
        .tool(
            "write_file",
            write::WRITE_DESCRIPTION,
            |input: write::WriteFileInput, ctx: &CallContext| {
                write::write_file(&Workspace::from_context(ctx), input)
            },
        )
        .tool(
            "edit_file",
            write::EDIT_DESCRIPTION,
            |input: write::EditFileInput, ctx: &CallContext| {
                write::edit_file(&Workspace::from_context(ctx), input)
            },
        )
        .read_only_tool(
            "list_dir",
            list::DESCRIPTION,
            |input: list::ListDirInput, ctx: &CallContext| {
                list::list_dir(&Workspace::from_context(ctx), input)
            },
        )
        .read_only_tool(
            "search",
            search::DESCRIPTION,
            |input: search::SearchInput, ctx: &CallContext| {
                search::search(&Workspace::from_context(ctx), input)
            },
        )
}

paddock_sdk::export_tools!(toolbox);

#[cfg(test)]
mod tests;
