//! cgroup limits for bubblewrap sandboxes (memory, pids, CPU) when this
//! host lets Paddock make cgroups: v2 with the controllers delegated to our
//! own cgroup, or v1 hierarchies writable by the host process (root on a
//! hybrid system). Found once per backend ([`Cgroups::detect`]); when
//! neither works, sandboxes run with rlimits only and that is logged once.
//!
//! Layout, under this process's own cgroup of each hierarchy (never above
//! it): one group per sandbox, `paddock-<host_id>-<sandbox>`, which carries
//! the limits, and one child `cmd-<n>` per command. A command joins its
//! child atomically (the `cgroup.procs` files are opened before fork and
//! `0` is written to them between fork and exec, see
//! [`crate::process`]), so bubblewrap and everything below it
//! start inside. The per-command child is what a timeout kills; killing the
//! sandbox's group ([`SandboxCgroup::destroy`]) takes every command down,
//! and a restarted host removes what a killed one left
//! ([`Cgroups::reap_orphans`]).

use super::SandboxLimits;
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The controllers Paddock limits with (`cpuacct` only reads CPU usage on v1).
const WANTED: [&str; 4] = ["memory", "pids", "cpu", "cpuacct"];
/// CFS period for CPU quotas, in microseconds.
const CPU_PERIOD_US: u64 = 100_000;
/// How long killing and removing a group may take before giving up (the
/// group is then left for [`SandboxCgroup::destroy`] or the next reaping).
const REMOVE_PATIENCE: Duration = Duration::from_secs(10);

/// Which cgroup interface is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The legacy per-controller hierarchies.
    V1,
    /// The unified hierarchy.
    V2,
}

/// One hierarchy we make groups in: its controllers (of [`WANTED`]) and the
/// directory of our own cgroup in it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hierarchy {
    controllers: Vec<String>,
    base: PathBuf,
}

impl Hierarchy {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// What this host lets Paddock do with cgroups, found once.
#[derive(Clone, Debug)]
pub struct Cgroups {
    prefix: String,
    version: CgroupVersion,
    /// Empty when cgroups are not usable (then `unavailable` says why).
    hierarchies: Vec<Hierarchy>,
    unavailable: Option<String>,
}

/// Resource use of a sandbox: read from its cgroup (bubblewrap) or the
/// engine's stats (Docker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ResourceUsage {
    /// Memory charged now, in bytes (page cache and tmpfs included).
    pub memory_bytes: Option<u64>,
    /// Processes and threads now.
    pub pids: Option<u64>,
    /// CPU time used so far by all its commands, in microseconds.
    pub cpu_usec: Option<u64>,
}

impl Cgroups {
    /// Finds the cgroups this process may make groups in, preferring v2,
    /// and logs the outcome once. `host_id` names the groups so that a
    /// restarted host can reap what this one leaves.
    pub fn detect(host_id: &str) -> Cgroups {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let (v2, v1) = locate(&parse_mountinfo(&mountinfo), &parse_proc_cgroup(&own));
        let prefix = group_prefix(host_id);
        // Unique per call too: backends detected at once in one process
        // (the tests) must not trip over each other's probe group.
        static PROBES: AtomicU64 = AtomicU64::new(0);
        let probe_name = format!(
            "paddock-probe-{}-{}",
            std::process::id(),
            PROBES.fetch_add(1, Ordering::Relaxed)
        );
        let mut why = Vec::new();
        if let Some(base) = v2 {
            match usable_v2(&base, &probe_name) {
                Ok(h) => {
                    tracing::info!(base = %h.base.display(), controllers = ?h.controllers,
                        "bubblewrap sandboxes get cgroup v2 limits");
                    return Cgroups {
                        prefix,
                        version: CgroupVersion::V2,
                        hierarchies: vec![h],
                        unavailable: None,
                    };
                }
                Err(e) => why.push(e),
            }
        }
        let mut usable = Vec::new();
        for h in v1 {
            match try_mkdir(&h.base.join(&probe_name)) {
                Ok(()) => usable.push(h),
                Err(e) => why.push(format!("cannot make a group in {}: {e}", h.base.display())),
            }
        }
        if usable.iter().any(|h| h.has("memory") || h.has("pids")) {
            tracing::info!(hierarchies = ?usable.iter().map(|h| h.base.display().to_string()).collect::<Vec<_>>(),
                "bubblewrap sandboxes get cgroup v1 limits");
            return Cgroups {
                prefix,
                version: CgroupVersion::V1,
                hierarchies: usable,
                unavailable: None,
            };
        }
        if why.is_empty() {
            why.push("no cgroup hierarchy with the memory or pids controller found".into());
        }
        let reason = why.join("; ");
        tracing::warn!(
            reason = %reason,
            "bubblewrap sandboxes run with rlimits only (no cgroup memory/pids/cpu limits): \
             that needs Paddock's own cgroup to be writable by it with the memory or pids \
             controller enabled for child groups (cgroup v2: delegated to its user, and the \
             kernel refuses to enable controllers while that cgroup itself holds processes), \
             or root on cgroup v1"
        );
        Cgroups {
            prefix,
            version: CgroupVersion::V2,
            hierarchies: Vec::new(),
            unavailable: Some(reason),
        }
    }

    /// Whether sandboxes get cgroups, and which interface.
    pub fn version(&self) -> Option<CgroupVersion> {
        (!self.hierarchies.is_empty()).then_some(self.version)
    }

    /// Why cgroups are not used, when they are not.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// Makes one sandbox's group with its limits; `None` when cgroups are
    /// not usable on this host.
    pub fn create(
        &self,
        sandbox: &str,
        limits: &SandboxLimits,
    ) -> io::Result<Option<SandboxCgroup>> {
        if self.hierarchies.is_empty() {
            return Ok(None);
        }
        let name = format!(
            "{}{}-{}",
            self.prefix,
            sanitize(sandbox),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let group = SandboxCgroup {
            name: name.clone(),
            version: self.version,
            dirs: self
                .hierarchies
                .iter()
                .map(|h| Hierarchy {
                    controllers: h.controllers.clone(),
                    base: h.base.join(&name),
                })
                .collect(),
            next_command: AtomicU64::new(0),
        };
        let made = group.dirs.iter().try_for_each(|dir| {
            fs::create_dir(&dir.base)?;
            for (file, value, required) in limit_writes(self.version, &dir.controllers, limits) {
                match fs::write(dir.base.join(file), &value) {
                    Ok(()) => {}
                    Err(e) if required => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("writing {value} to {}/{file}: {e}", dir.base.display()),
                        ));
                    }
                    Err(e) => tracing::debug!(file, error = %e, "optional cgroup limit not set"),
                }
            }
            Ok(())
        });
        // On error, dropping the group removes what was made.
        made.map(|()| Some(group))
    }

    /// Kills and removes every group a previous host of this `host_id`
    /// left; returns how many sandboxes' groups were removed.
    pub async fn reap_orphans(&self) -> usize {
        let mut reaped = BTreeSet::new();
        for h in &self.hierarchies {
            let Ok(entries) = fs::read_dir(&h.base) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with(&self.prefix) || !entry.path().is_dir() {
                    continue;
                }
                match kill_and_remove(&entry.path(), self.version).await {
                    Ok(()) => {
                        tracing::info!(group = %entry.path().display(), "reaped an orphaned sandbox cgroup");
                        reaped.insert(name);
                    }
                    Err(e) => tracing::warn!(group = %entry.path().display(), error = %e,
                        "could not remove an orphaned sandbox cgroup"),
                }
            }
        }
        reaped.len()
    }
}

/// One sandbox's group (one directory per hierarchy on v1).
#[derive(Debug)]
pub struct SandboxCgroup {
    name: String,
    version: CgroupVersion,
    dirs: Vec<Hierarchy>,
    next_command: AtomicU64,
}

impl SandboxCgroup {
    /// The group's name (`paddock-<host_id>-<sandbox>-<random>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the child group one command runs in.
    pub fn command(&self) -> io::Result<CommandCgroup> {
        let n = self.next_command.fetch_add(1, Ordering::Relaxed);
        let dirs: Vec<PathBuf> = self
            .dirs
            .iter()
            .map(|d| d.base.join(format!("cmd-{n}")))
            .collect();
        for (i, dir) in dirs.iter().enumerate() {
            if let Err(e) = fs::create_dir(dir) {
                for made in &dirs[..i] {
                    let _ = fs::remove_dir(made);
                }
                return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display())));
            }
        }
        Ok(CommandCgroup {
            version: self.version,
            dirs,
        })
    }

    /// Current resource use of all its commands; `None` when nothing could
    /// be read (the group is gone).
    pub fn usage(&self) -> Option<ResourceUsage> {
        let mut usage = ResourceUsage::default();
        for dir in &self.dirs {
            let read = |file: &str| read_u64(&dir.base.join(file));
            match self.version {
                CgroupVersion::V2 => {
                    usage.memory_bytes = read("memory.current");
                    usage.pids = read("pids.current");
                    usage.cpu_usec = fs::read_to_string(dir.base.join("cpu.stat"))
                        .ok()
                        .and_then(|s| stat_field(&s, "usage_usec"));
                }
                CgroupVersion::V1 => {
                    if dir.has("memory") {
                        usage.memory_bytes = read("memory.usage_in_bytes");
                    }
                    if dir.has("pids") {
                        usage.pids = read("pids.current");
                    }
                    if dir.has("cpuacct") {
                        usage.cpu_usec = read("cpuacct.usage").map(|ns| ns / 1000);
                    }
                }
            }
        }
        (usage != ResourceUsage::default()).then_some(usage)
    }

    /// Kills everything in the group and removes it. Idempotent.
    pub async fn destroy(&self) -> io::Result<()> {
        for dir in &self.dirs {
            kill_and_remove(&dir.base, self.version).await?;
        }
        Ok(())
    }
}

impl Drop for SandboxCgroup {
    /// Like [`SandboxCgroup::destroy`], in the background if need be.
    fn drop(&mut self) {
        release(self.dirs.drain(..).map(|d| d.base).collect(), self.version);
    }
}

/// The group of one command, a child of its sandbox's group. Dropping it
/// kills what is left in it and removes it (in the background if the
/// processes take a moment to die).
#[derive(Debug)]
pub struct CommandCgroup {
    version: CgroupVersion,
    /// Emptied once removed.
    dirs: Vec<PathBuf>,
}

impl CommandCgroup {
    /// Opens the `cgroup.procs` files a child writes `0` to (between fork
    /// and exec) to join the group. Open them before forking.
    pub fn open_procs(&self) -> io::Result<Vec<File>> {
        self.dirs
            .iter()
            .map(|d| OpenOptions::new().write(true).open(d.join("cgroup.procs")))
            .collect()
    }

    /// Sends SIGKILL to everything in the group (`cgroup.kill` on v2).
    pub fn kill(&self) {
        for dir in &self.dirs {
            kill_tree(dir, self.version, None);
        }
    }

    /// Sends SIGKILL to everything in the group but one process.
    pub fn kill_except(&self, spared: libc::pid_t) {
        for dir in &self.dirs {
            kill_tree(dir, self.version, Some(spared));
        }
    }

    /// Kills what is left and removes the group, waiting for the processes
    /// to die.
    pub async fn remove(mut self) {
        for dir in std::mem::take(&mut self.dirs) {
            if let Err(e) = kill_and_remove(&dir, self.version).await {
                tracing::warn!(error = %e, "could not remove a command cgroup");
            }
        }
    }
}

impl Drop for CommandCgroup {
    fn drop(&mut self) {
        release(std::mem::take(&mut self.dirs), self.version);
    }
}

/// Kills what is in these groups and removes them: at once if they empty
/// at once, else in the background (when there is a runtime; otherwise
/// the next [`SandboxCgroup::destroy`] or reaping does it).
fn release(dirs: Vec<PathBuf>, version: CgroupVersion) {
    let mut left = Vec::new();
    for dir in dirs {
        kill_tree(&dir, version, None);
        if remove_tree(&dir).is_err() {
            left.push(dir);
        }
    }
    if left.is_empty() {
        return;
    }
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            for dir in &left {
                if let Err(e) = kill_and_remove(dir, version).await {
                    tracing::warn!(error = %e, "could not remove a sandbox cgroup");
                }
            }
        });
    }
}

/// The name prefix of this host's groups.
fn group_prefix(host_id: &str) -> String {
    format!("paddock-{}-", sanitize(host_id))
}

/// A name safe as one cgroup path component (and short).
fn sanitize(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

/// The files and values that set `limits` on a group with `controllers`:
/// `(file, value, required)`; optional ones (swap) may be missing.
fn limit_writes(
    version: CgroupVersion,
    controllers: &[String],
    limits: &SandboxLimits,
) -> Vec<(&'static str, String, bool)> {
    let has = |c: &str| controllers.iter().any(|x| x == c);
    let memory = (limits.memory_mb.saturating_mul(1024 * 1024)).to_string();
    let quota =
        (limits.cpus > 0.0).then(|| ((limits.cpus * CPU_PERIOD_US as f64) as u64).max(1000));
    let mut out = Vec::new();
    match version {
        CgroupVersion::V2 => {
            if has("memory") {
                out.push(("memory.max", memory, true));
                out.push(("memory.swap.max", "0".into(), false));
            }
            if has("pids") {
                out.push(("pids.max", limits.pids.to_string(), true));
            }
            if has("cpu")
                && let Some(q) = quota
            {
                out.push(("cpu.max", format!("{q} {CPU_PERIOD_US}"), true));
            }
        }
        CgroupVersion::V1 => {
            if has("memory") {
                // The swap limit (memory + swap) must come after the memory
                // limit, which it may not be below.
                out.push(("memory.limit_in_bytes", memory.clone(), true));
                out.push(("memory.memsw.limit_in_bytes", memory, false));
                out.push(("memory.swappiness", "0".into(), false));
            }
            if has("pids") {
                out.push(("pids.max", limits.pids.to_string(), true));
            }
            if has("cpu")
                && let Some(q) = quota
            {
                out.push(("cpu.cfs_period_us", CPU_PERIOD_US.to_string(), true));
                out.push(("cpu.cfs_quota_us", q.to_string(), true));
            }
        }
    }
    out
}

/// One line of `/proc/self/mountinfo`, the fields we use.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mount {
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_options: Vec<String>,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let _source = right.next()?;
            Some(Mount {
                root: unescape(left.get(3)?),
                mount_point: PathBuf::from(unescape(left.get(4)?)),
                fstype,
                super_options: right
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) && d[0] <= b'3'
        });
        if let Some(d) = octal {
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/self/cgroup`: the hierarchy's controllers (empty
/// for v2) and our path in it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Membership {
    controllers: Vec<String>,
    path: String,
}

fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Membership {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// Our own cgroup's directory on `mount` for a `path` from
/// `/proc/self/cgroup` (the mount may show only a subtree).
fn own_dir(mount: &Mount, path: &str) -> Option<PathBuf> {
    let rel = if mount.root == "/" {
        path
    } else {
        path.strip_prefix(mount.root.as_str())?
    };
    let rel = rel.trim_start_matches('/');
    if rel.split('/').any(|c| c == "..") {
        return None;
    }
    Some(mount.mount_point.join(rel))
}

/// Where our own cgroups are: the v2 directory (if v2 is mounted) and the
/// v1 hierarchies with a controller Paddock uses.
fn locate(mounts: &[Mount], own: &[Membership]) -> (Option<PathBuf>, Vec<Hierarchy>) {
    let v2 = own.iter().find(|m| m.controllers.is_empty()).and_then(|m| {
        mounts
            .iter()
            .filter(|mnt| mnt.fstype == "cgroup2")
            .find_map(|mnt| own_dir(mnt, &m.path))
    });
    let mut v1: Vec<Hierarchy> = Vec::new();
    for mnt in mounts.iter().filter(|m| m.fstype == "cgroup") {
        let controllers: Vec<String> = mnt
            .super_options
            .iter()
            .filter(|o| WANTED.contains(&o.as_str()))
            .cloned()
            .collect();
        if controllers.is_empty() || v1.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        let Some(membership) = own
            .iter()
            .find(|m| controllers.iter().all(|c| m.controllers.contains(c)))
        else {
            continue;
        };
        if let Some(base) = own_dir(mnt, &membership.path) {
            v1.push(Hierarchy { controllers, base });
        }
    }
    (v2, v1)
}

/// Checks that we can make groups under our own v2 cgroup with memory and
/// pids (and cpu if present) enabled for them.
fn usable_v2(base: &Path, probe_name: &str) -> Result<Hierarchy, String> {
    let read_set = |file: &str| -> Vec<String> {
        fs::read_to_string(base.join(file))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let available = read_set("cgroup.controllers");
    let wanted: Vec<String> = ["memory", "pids", "cpu"]
        .iter()
        .filter(|c| available.iter().any(|a| a == *c))
        .map(|c| c.to_string())
        .collect();
    if !wanted.iter().any(|c| c == "memory" || c == "pids") {
        return Err(format!(
            "cgroup v2 at {} has neither the memory nor the pids controller (available: {:?})",
            base.display(),
            available
        ));
    }
    let enabled = read_set("cgroup.subtree_control");
    let mut controllers = Vec::new();
    for c in wanted {
        if enabled.contains(&c) {
            controllers.push(c);
            continue;
        }
        match fs::write(base.join("cgroup.subtree_control"), format!("+{c}")) {
            Ok(()) => controllers.push(c),
            Err(e) => {
                tracing::debug!(controller = %c, error = %e, "cannot enable a cgroup v2 controller")
            }
        }
    }
    if !controllers.iter().any(|c| c == "memory" || c == "pids") {
        return Err(format!(
            "cannot enable the memory or pids controller in {}/cgroup.subtree_control \
             (our cgroup holds processes or is not delegated to us)",
            base.display()
        ));
    }
    try_mkdir(&base.join(probe_name))
        .map_err(|e| format!("cannot make a group in {}: {e}", base.display()))?;
    Ok(Hierarchy {
        controllers,
        base: base.to_path_buf(),
    })
}

/// Makes and removes a group, to check that we may.
fn try_mkdir(dir: &Path) -> io::Result<()> {
    fs::create_dir(dir)?;
    fs::remove_dir(dir)
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A `name value` field of a flat-keyed file like `cpu.stat`.
fn stat_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok())?
    })
}

/// The group and all its descendants, deepest first.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(subtree(&entry.path()));
            }
        }
    }
    out.push(dir.to_path_buf());
    out
}

/// SIGKILLs everything in a group and its descendants, but `spared`.
fn kill_tree(dir: &Path, version: CgroupVersion, spared: Option<libc::pid_t>) {
    if spared.is_none()
        && version == CgroupVersion::V2
        && fs::write(dir.join("cgroup.kill"), "1").is_ok()
    {
        return;
    }
    for group in subtree(dir) {
        let Ok(procs) = fs::read_to_string(group.join("cgroup.procs")) else {
            continue;
        };
        for pid in procs
            .lines()
            .filter_map(|l| l.trim().parse::<libc::pid_t>().ok())
        {
            if pid > 0 && Some(pid) != spared {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Removes a group and its descendants (they must be empty of processes).
fn remove_tree(dir: &Path) -> io::Result<()> {
    for group in subtree(dir) {
        match fs::remove_dir(&group) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Kills everything in a group and removes it, waiting for the processes to
/// die (up to [`REMOVE_PATIENCE`]).
async fn kill_and_remove(dir: &Path, version: CgroupVersion) -> io::Result<()> {
    let deadline = tokio::time::Instant::now() + REMOVE_PATIENCE;
    loop {
        kill_tree(dir, version, None);
        match remove_tree(dir) {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("removing {}: {e}", dir.display()),
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
5:devices:/
4:memory:/process_api/9c7f
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn finds_hybrid_hierarchies_under_our_own_groups() {
        let (v2, v1) = locate(
            &parse_mountinfo(HYBRID_MOUNTINFO),
            &parse_proc_cgroup(HYBRID_CGROUP),
        );
        assert_eq!(v2, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let found: Vec<(String, PathBuf)> = v1
            .iter()
            .map(|h| (h.controllers.join(","), h.base.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("cpu".into(), PathBuf::from("/sys/fs/cgroup/cpu")),
                ("cpuacct".into(), PathBuf::from("/sys/fs/cgroup/cpuacct")),
                (
                    "memory".into(),
                    PathBuf::from("/sys/fs/cgroup/memory/process_api/9c7f")
                ),
                ("pids".into(), PathBuf::from("/sys/fs/cgroup/pids")),
            ]
        );
    }

    #[test]
    fn finds_a_pure_v2_user_slice_and_combined_v1() {
        let mountinfo = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
        let own = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope\n";
        let (v2, v1) = locate(&parse_mountinfo(mountinfo), &parse_proc_cgroup(own));
        assert_eq!(
            v2,
            Some(PathBuf::from(
                "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope"
            ))
        );
        assert!(v1.is_empty());

        // A container's view: the mount shows only its own subtree, and
        // cpu and cpuacct share one hierarchy.
        let mountinfo = "\
40 31 0:40 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct
41 31 0:41 /docker/abc /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,pids
";
        let own = "3:cpu,cpuacct:/docker/abc/inner\n7:pids:/docker/abc\n";
        let (_, v1) = locate(&parse_mountinfo(mountinfo), &parse_proc_cgroup(own));
        assert_eq!(
            v1,
            vec![
                Hierarchy {
                    controllers: vec!["cpu".into(), "cpuacct".into()],
                    base: PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/inner"),
                },
                Hierarchy {
                    controllers: vec!["pids".into()],
                    base: PathBuf::from("/sys/fs/cgroup/with space"),
                },
            ]
        );
    }

    #[test]
    fn limits_become_the_right_files() {
        let limits = SandboxLimits {
            memory_mb: 256,
            cpus: 1.5,
            pids: 64,
            ..SandboxLimits::default()
        };
        let all: Vec<String> = ["memory", "pids", "cpu"].map(String::from).to_vec();
        let files = |v| {
            limit_writes(v, &all, &limits)
                .into_iter()
                .map(|(f, v, _)| format!("{f}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            files(CgroupVersion::V2),
            [
                "memory.max=268435456",
                "memory.swap.max=0",
                "pids.max=64",
                "cpu.max=150000 100000"
            ]
        );
        assert_eq!(
            files(CgroupVersion::V1),
            [
                "memory.limit_in_bytes=268435456",
                "memory.memsw.limit_in_bytes=268435456",
                "memory.swappiness=0",
                "pids.max=64",
                "cpu.cfs_period_us=100000",
                "cpu.cfs_quota_us=150000"
            ]
        );
    }

    #[test]
    fn names_are_safe_path_components() {
        assert_eq!(group_prefix("host 1/.."), "paddock-host_1___-");
        assert_eq!(sanitize(""), "_");
        assert_eq!(sanitize(&"a".repeat(100)).len(), 48);
        assert_eq!(
            stat_field("usage_usec 1234\nuser_usec 1000\n", "usage_usec"),
            Some(1234)
        );
    }
}
