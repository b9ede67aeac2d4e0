//! The backup a database gets before this build migrates it: `pg_dump --format=custom` into a
//! file (restore with `pg_restore`), named by the schema it holds and the day.
//!
//! The connection reaches pg_dump through libpq's environment variables, so the password is
//! never on a command line another user could read; with `sslmode=require` pg_dump verifies the
//! server's certificate and name as the node does (`verify-full`, the system's trust store or
//! `SSL_CERT_FILE`). The file is made readable by its owner only before pg_dump writes into it:
//! it holds the cluster's signing secret and password hashes. Without a backup there is no
//! migration: this module never lets the schema move forward when the dump failed.

use std::path::{Path, PathBuf};

use tokio_postgres::config::{Host, SslMode};

use crate::store::StoreError;

/// Dumps the database `config` names into a new file in `dir`; its path.
pub async fn before_migrating(
    config: &tokio_postgres::Config,
    dir: &Path,
    schema: i64,
) -> Result<PathBuf, StoreError> {
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    let stamp = crate::time::utc_date(crate::time::now_ms());
    let name = |copy: u32| {
        let copy = if copy > 1 {
            format!("-{copy}")
        } else {
            String::new()
        };
        dir.join(format!(
            "postgres-{database}.schema-{schema}-backup-{stamp}{copy}.dump"
        ))
    };
    let mut copy = 1;
    while name(copy).exists() {
        copy += 1;
    }
    let target = name(copy);
    let failed = |reason: String| StoreError::BackupBeforeMigrating {
        path: target.clone(),
        reason,
    };
    let pg_dump = pg_dump().ok_or_else(|| {
        failed(
            "pg_dump was not found; install PostgreSQL's client tools (Debian: postgresql-client)"
                .into(),
        )
    })?;
    std::fs::create_dir_all(dir).map_err(|error| failed(error.to_string()))?;
    owner_only_file(&target).map_err(|error| failed(error.to_string()))?;
    let mut command = tokio::process::Command::new(&pg_dump);
    command
        .args(["--format=custom", "--no-password", "--file"])
        .arg(&target)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PGDATABASE", database)
        .env("PGCONNECT_TIMEOUT", "10");
    if let Some(user) = config.get_user() {
        command.env("PGUSER", user);
    }
    if let Some(password) = config.get_password() {
        command.env("PGPASSWORD", String::from_utf8_lossy(password).as_ref());
    }
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        command.env("PGHOST", hosts.join(","));
    }
    if hosts.len() > 1 {
        // The primary, which the node migrates, not a replica that may lag.
        command.env("PGTARGETSESSIONATTRS", "read-write");
    }
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        command.env("PGPORT", ports.join(","));
    }
    if config.get_ssl_mode() == SslMode::Require {
        let trusted = std::env::var_os("SSL_CERT_FILE")
            .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
        command
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", trusted);
    }
    let outcome = match command.output().await {
        Err(error) => Err(format!("{}: {error}", pg_dump.display())),
        Ok(output) if !output.status.success() => {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
        Ok(_) => Ok(()),
    };
    if let Err(reason) = outcome {
        let _ = std::fs::remove_file(&target);
        return Err(failed(reason));
    }
    Ok(target)
}

/// An empty file only its owner may read, created anew.
fn owner_only_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// `pg_dump` on the PATH, else the newest of Debian's `/usr/lib/postgresql/<version>/bin`.
pub(super) fn pg_dump() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pg_dump"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
        versions
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let version: Vec<u32> = name
                    .split('.')
                    .map(|part| part.parse().ok())
                    .collect::<Option<_>>()?;
                Some((version, entry.path().join("bin/pg_dump")))
            })
            .filter(|(_, candidate)| candidate.is_file())
            .max()
            .map(|(_, newest)| newest)
    })
}
