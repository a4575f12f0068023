//! cgroup limits for bubblewrap sandboxes (memory, pids, CPU) when this
//! host lets Paddock make cgroups (v2 with delegated controllers, or v1
//! hierarchies writable by the host process).
