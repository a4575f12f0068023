//! A throw-away PostgreSQL database per test, on the server at
//! `PADDOCK_TEST_POSTGRES_URL` (default: 127.0.0.1:5432, trust auth).

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
