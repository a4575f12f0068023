//! PostgreSQL for the tests: a throw-away database per test on the server
//! at `PADDOCK_TEST_POSTGRES_URL` (default: 127.0.0.1:5432, trust auth)
//! ([`PgDb`]), and a private cluster for tests that stop and start the
//! database or need their own authentication rules ([`PgCluster`]).

use std::path::PathBuf;
use std::process::Command;

/// A PostgreSQL database made for one test and dropped afterwards.
pub struct PgDb {
    /// Its URL, for `--database-url` / `PADDOCK_DATABASE_URL`.
    pub url: String,
}

impl PgDb {
    /// Creates a database with a fresh name whose start says who made it.
    pub async fn create(prefix: &str) -> PgDb {
        use sqlx::migrate::MigrateDatabase;
        let server = std::env::var("PADDOCK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut url = reqwest::Url::parse(&server).unwrap();
        let name = format!(
            "{prefix}_{}_{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        sqlx::any::install_default_drivers();
        if let Err(e) = sqlx::Any::create_database(&url).await {
            panic!(
                "PostgreSQL at {server} is unreachable or refused to create a database ({e}); \
                 start PostgreSQL or point PADDOCK_TEST_POSTGRES_URL at one"
            );
        }
        PgDb { url }
    }

    /// Every row of every table of the database, as text (`row::text`),
    /// one line each: what a look at the database would find.
    pub async fn dump(&self) -> String {
        use sqlx::Row;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
            .await
            .unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) \
             FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
             AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut out = String::new();
        for table in tables {
            // The table names come from the catalogue, quoted by it.
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM {table} t"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for row in rows {
                out.push_str(&table);
                out.push_str(": ");
                out.push_str(&row.get::<String, _>(0));
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            use sqlx::migrate::MigrateDatabase;
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(sqlx::Any::force_drop_database(&url));
            }
        })
        .join();
    }
}

/// A private PostgreSQL cluster, for tests that stop and start the database
/// (the shared server at 127.0.0.1:5432 must stay up for every other test).
/// Made with the machine's own `initdb` and `pg_ctl` (`pg_config
/// --bindir`), in a temporary directory, on a free port; as the `postgres`
/// user when the tests run as root (PostgreSQL refuses to run as root).
///
/// Removed on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
}

fn bindir() -> PathBuf {
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("pg_config (Debian package postgresql) for a private PostgreSQL cluster");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

impl PgCluster {
    /// Initialises a cluster (trust authentication for `postgres`, plus
    /// `hba` lines placed before it) and starts it.
    pub fn start(hba_first: &[&str]) -> PgCluster {
        // SAFETY: geteuid cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = tempfile::Builder::new()
            .prefix("paddock-pg-")
            .tempdir()
            .expect("a directory for the cluster");
        let cluster = PgCluster {
            bindir: bindir(),
            port: super::mcp_servers::free_port(),
            as_postgres,
            dir,
        };
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown the cluster's directory to postgres");
        }
        let data = cluster.data();
        let data_s = data.to_string_lossy().to_string();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        if !hba_first.is_empty() {
            let hba = data.join("pg_hba.conf");
            let old = std::fs::read_to_string(&hba).expect("pg_hba.conf");
            std::fs::write(&hba, format!("{}\n{old}", hba_first.join("\n"))).expect("pg_hba");
        }
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of PostgreSQL's programs, as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let exe = self.bindir.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) {
        let data = self.data().to_string_lossy().to_string();
        let sockets = self.dir.path().to_string_lossy().to_string();
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {sockets} -c fsync=off",
            self.port
        );
        let log = self.dir.path().join("log").to_string_lossy().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &opts, "-l", &log, "-w", "-t", "60", "start",
            ],
        );
    }

    /// Stops the server at once (`-m fast`: connections are cut).
    pub fn down(&self) {
        let data = self.data().to_string_lossy().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// Runs SQL as `postgres` in database `db` (through `psql`).
    pub fn sql(&self, db: &str, sql: &str) {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        );
    }

    /// `postgres://USER@127.0.0.1:PORT/DB`.
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data().to_string_lossy().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
