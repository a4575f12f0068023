//! The sandbox manager: picks the backend, owns each agent's sandbox and
//! background jobs, and runs commands for plugins granted `exec`.
