//! Paths as the rules see them: normalised against the workspace, and
//! classified (system directories, protected trees, secret files, devices).

/// Where relative paths are resolved: the agent's workspace.
pub const WORKSPACE: &str = "/workspace";

/// What `~` and `$HOME` stand for in normalised paths (a marker, not a real
/// home directory: it sits under `/home` so that `~/..` is `/home`).
pub const HOME: &str = "/home/~";

/// Top-level directories whose recursive deletion is critical.
pub const SYSTEM_DIRS: &[&str] = &[
    "etc", "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "var", "boot", "home", "root",
    "opt", "dev", "proc", "sys", "srv",
];

/// Trees no tool call may write under.
pub const PROTECTED: &[&str] = &["/etc", "/usr"];

/// The rest of `path` after a home prefix (`~`, `~/`, `$HOME`, `${HOME}`).
fn strip_home(path: &str) -> Option<&str> {
    for prefix in ["~", "$HOME"] {
        if let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Some(rest);
        }
    }
    // `${HOME}`, `${HOME:?}`, `${HOME:-/x}`…
    let rest = path.strip_prefix("${HOME")?;
    if !(rest.starts_with('}') || rest.starts_with(':')) {
        return None;
    }
    let rest = &rest[rest.find('}')? + 1..];
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// `path` made absolute (relative to [`WORKSPACE`], `~` to [`HOME`]) with
/// `.`, `..` and repeated slashes resolved; `..` never climbs above `/`.
pub fn normalize(path: &str) -> String {
    let path = path.trim();
    let (root, rest) = match strip_home(path) {
        Some(rest) => (HOME, rest),
        None if path.starts_with('/') => ("", path),
        None => (WORKSPACE, path),
    };
    let mut parts: Vec<&str> = root.split('/').filter(|s| !s.is_empty()).collect();
    for seg in rest.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `path` as seen from the directory `cwd` (`None`: the workspace): a
/// relative path is put under `cwd`; absolute, home and variable paths are
/// left as they are.
pub fn resolve(cwd: Option<&str>, path: &str) -> String {
    let p = path.trim();
    match cwd {
        Some(dir) if !(p.starts_with('/') || p.starts_with('~') || p.starts_with('$')) => {
            if p.is_empty() {
                dir.to_string()
            } else {
                format!("{}/{p}", dir.trim_end_matches('/'))
            }
        }
        _ => p.to_string(),
    }
}

/// Whether `abs` (normalised) is `dir` or lies under it.
pub fn is_under(abs: &str, dir: &str) -> bool {
    abs == dir || abs.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// The protected tree (`/etc`, `/usr`) that `path` lies in, if any.
pub fn protected_tree(path: &str) -> Option<&'static str> {
    let abs = normalize(path);
    PROTECTED.iter().copied().find(|dir| is_under(&abs, dir))
}

/// Whether `path` is inside the workspace once normalised. Paths made of
/// other variables (`$DIR/x`) are unknown, and counted as inside.
pub fn is_in_workspace(path: &str) -> bool {
    let p = path.trim();
    if p.starts_with('$') && strip_home(p).is_none() {
        return true;
    }
    is_under(&normalize(p), WORKSPACE)
}

/// What deleting `path` (recursively) would reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The whole filesystem: `/`, `/*`, `/.`, `..` from the workspace…
    Root,
    /// The home directory: `~`, `~/`, `$HOME`, `~/*`…
    Home,
    /// A top-level system directory (or everything in it): `/etc`, `/usr/*`…
    SystemDir(String),
    /// Something under a protected tree (`/etc/nginx`…).
    Protected(&'static str),
    /// Anything else.
    Other,
}

/// What a deletion of `target` reaches. A last component that is only a
/// glob (`*`, `.*`, `*.*`) counts as its directory.
pub fn reach(target: &str) -> Reach {
    let mut t = target.trim();
    loop {
        let trimmed = t.trim_end_matches('/');
        let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
        let pure_glob = !last.is_empty() && last.chars().all(|c| matches!(c, '*' | '.' | '?'));
        if pure_glob && last.contains(['*', '?']) {
            t = &trimmed[..trimmed.len() - last.len()];
            if t.is_empty() {
                t = ".";
            }
        } else {
            break;
        }
    }
    let abs = normalize(t);
    if abs == "/" {
        return Reach::Root;
    }
    if abs == HOME {
        return Reach::Home;
    }
    let top = abs.trim_start_matches('/');
    if !top.contains('/') && SYSTEM_DIRS.contains(&top) {
        return Reach::SystemDir(abs);
    }
    match PROTECTED.iter().copied().find(|dir| is_under(&abs, dir)) {
        Some(dir) => Reach::Protected(dir),
        None => Reach::Other,
    }
}

/// The last component of `path` (trailing slashes ignored).
pub fn basename(path: &str) -> &str {
    let trimmed = path.trim().trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Whether `path` names a file that usually holds secrets: `.env` and
/// `.env.*` (not `.env.example`, `.sample`, `.template`, `.dist`), `*.pem`,
/// `*.key`, `*.p12`, `*.pfx`, private SSH keys (`id_rsa*`, `id_ed25519*`…,
/// not `*.pub`), `credentials*`, `secrets.*`, `.npmrc`, `.pypirc`, `.netrc`,
/// `.git-credentials`, `.pgpass`, `/etc/shadow`.
pub fn is_secret_file(path: &str) -> bool {
    let name = basename(path);
    if name.is_empty() {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    if lower == ".env" {
        return true;
    }
    if let Some(suffix) = lower.strip_prefix(".env") {
        let example = [
            "example", "sample", "template", "dist", "defaults", "schema",
        ]
        .iter()
        .any(|e| suffix.ends_with(e));
        if (suffix.starts_with('.') || suffix.contains('*')) && !example {
            return true;
        }
    }
    if [".pem", ".key", ".p12", ".pfx"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        return true;
    }
    if ["id_rsa", "id_ed25519", "id_ecdsa", "id_dsa"]
        .iter()
        .any(|k| lower.starts_with(k))
        && !lower.ends_with(".pub")
    {
        return true;
    }
    if lower.starts_with("credentials") || lower.starts_with("secrets.") {
        return true;
    }
    if [
        ".npmrc",
        ".pypirc",
        ".netrc",
        "_netrc",
        ".git-credentials",
        ".pgpass",
    ]
    .contains(&lower.as_str())
    {
        return true;
    }
    matches!(normalize(path).as_str(), "/etc/shadow" | "/etc/gshadow")
}

/// Whether `path` is a disk or memory device (`/dev/sda`, `/dev/nvme0n1`,
/// `/dev/mapper/…`, `/dev/mem`…), whose overwriting destroys data.
pub fn is_disk_device(path: &str) -> bool {
    let abs = normalize(path);
    let Some(dev) = abs.strip_prefix("/dev/") else {
        return false;
    };
    [
        "sd", "hd", "vd", "xvd", "nvme", "mmcblk", "disk/", "mapper/", "dm-", "md", "loop",
    ]
    .iter()
    .any(|p| dev.starts_with(p))
        || matches!(dev, "mem" | "kmem" | "port")
}

/// Whether `path` is a harmless device to write to (`/dev/null`, the
/// standard streams, terminals).
pub fn is_harmless_device(path: &str) -> bool {
    let abs = normalize(path);
    matches!(
        abs.as_str(),
        "/dev/null"
            | "/dev/zero"
            | "/dev/stdout"
            | "/dev/stderr"
            | "/dev/stdin"
            | "/dev/tty"
            | "/dev/random"
            | "/dev/urandom"
            | "/dev/full"
    ) || abs.starts_with("/dev/fd/")
        || abs.starts_with("/dev/pts/")
        || abs.starts_with("/dev/shm/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("/etc/../etc//passwd"), "/etc/passwd");
        assert_eq!(normalize("a/./b/../c"), "/workspace/a/c");
        assert_eq!(normalize("../../etc/x"), "/etc/x");
        assert_eq!(normalize("../../../../.."), "/");
        assert_eq!(normalize("~"), HOME);
        assert_eq!(normalize("~/.ssh/id_rsa"), "/home/~/.ssh/id_rsa");
        assert_eq!(normalize("$HOME/.."), "/home");
        assert_eq!(normalize("${HOME}/x"), "/home/~/x");
        assert_eq!(normalize("//usr///bin"), "/usr/bin");
        assert_eq!(normalize(""), "/workspace");
        assert_eq!(normalize("~user"), "/workspace/~user");
        assert_eq!(normalize("${HOMER}"), "/workspace/${HOMER}");
    }

    #[test]
    fn reaches() {
        for root in ["/", "/*", "/.", "/./", "//", "..", "../..", "/*.*", "/.*"] {
            assert_eq!(reach(root), Reach::Root, "{root}");
        }
        for home in [
            "~",
            "~/",
            "$HOME",
            "${HOME}",
            "~/*",
            "$HOME/",
            "~/.",
            "${HOME:?}/",
            "${HOME:-/root}",
        ] {
            assert_eq!(reach(home), Reach::Home, "{home}");
        }
        assert_eq!(reach("/etc"), Reach::SystemDir("/etc".into()));
        assert_eq!(reach("/usr/*"), Reach::SystemDir("/usr".into()));
        assert_eq!(reach("/home/"), Reach::SystemDir("/home".into()));
        assert_eq!(reach("~/.."), Reach::SystemDir("/home".into()));
        assert_eq!(reach("/etc/nginx"), Reach::Protected("/etc"));
        assert_eq!(reach("/usr/local/lib/x"), Reach::Protected("/usr"));
        assert_eq!(reach("build"), Reach::Other);
        assert_eq!(reach("*"), Reach::Other);
        assert_eq!(reach("/tmp/x"), Reach::Other);
        assert_eq!(reach("/var/log/app"), Reach::Other);
        assert_eq!(reach("/etcetera"), Reach::Other);
    }

    #[test]
    fn secrets() {
        for s in [
            ".env",
            "./.env",
            "app/.env.local",
            ".env.production",
            "server.pem",
            "tls.key",
            "~/.ssh/id_rsa",
            "id_ed25519",
            "credentials.json",
            "~/.aws/credentials",
            "secrets.yaml",
            ".npmrc",
            ".pypirc",
            "~/.netrc",
            ".git-credentials",
            "/etc/shadow",
            "../../etc/shadow",
            ".env*",
        ] {
            assert!(is_secret_file(s), "{s}");
        }
        for s in [
            "README.md",
            ".env.example",
            ".env.sample",
            "id_rsa.pub",
            "monkey",
            "keys.txt",
            "secret_santa.txt",
            ".envrc",
            "environment.yml",
            "/etc/passwd",
            "",
        ] {
            assert!(!is_secret_file(s), "{s}");
        }
    }

    #[test]
    fn resolves_against_a_directory() {
        assert_eq!(resolve(Some("/"), "*"), "/*");
        assert_eq!(reach(&resolve(Some("/"), "*")), Reach::Root);
        assert_eq!(reach(&resolve(Some("~"), ".")), Reach::Home);
        assert_eq!(resolve(Some("/etc"), "passwd"), "/etc/passwd");
        assert_eq!(resolve(Some("/etc"), "/tmp/x"), "/tmp/x");
        assert_eq!(resolve(None, "x"), "x");
    }

    #[test]
    fn devices_and_trees() {
        assert!(is_disk_device("/dev/sda"));
        assert!(is_disk_device("/dev/nvme0n1p1"));
        assert!(is_disk_device("/dev/mapper/root"));
        assert!(!is_disk_device("/dev/null"));
        assert!(!is_disk_device("/tmp/sda"));
        assert!(is_harmless_device("/dev/null"));
        assert!(is_harmless_device("/dev/fd/2"));
        assert_eq!(protected_tree("/etc/hosts"), Some("/etc"));
        assert_eq!(protected_tree("../../usr/bin/x"), Some("/usr"));
        assert_eq!(protected_tree("/usrx"), None);
        assert_eq!(protected_tree("etc/hosts"), None);
        assert!(is_in_workspace("src/main.rs"));
        assert!(is_in_workspace("/workspace/x"));
        assert!(!is_in_workspace("/opt/x"));
        assert!(!is_in_workspace("~/x"));
        assert!(!is_in_workspace("../x"));
        assert!(is_in_workspace("$DIR/x"));
    }
}
