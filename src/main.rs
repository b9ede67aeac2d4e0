//! The `helpyap` binary: parses the command line, loads the config, and runs the server.
//!
//! A bad config, or a store written by a newer release, exits with code 64 before any port is
//! bound; an engine of `[cluster]` that cannot be reached at start exits with 69; a backup
//! before a migration that cannot be written (no pg_dump, a full disk) exits with 73; any later
//! failure exits with 1.
//! Everything else lives in the library so tests can run the same server in-process.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use helpyap::backends::Unreachable;
use helpyap::cli::{
    BackupArgs, CheckConfigArgs, Cli, Command, RestoreArgs, StoreArgs, UserAddArgs, UserCommand,
};
use helpyap::config::{Config, Overrides};
use helpyap::server::{App, shutdown_signal};
use std::sync::Arc;

use helpyap_actors::accounts;
use helpyap_actors::store::copy::copy;
use helpyap_actors::{PgStore, SledStore, Storage, Store, StoreError};

/// jemalloc rather than glibc's malloc, which gives new threads arenas of their own (up to 8 a
/// core) and keeps what is freed there resident: the knowledge indexes' builds, on tantivy's
/// short-lived writer threads, left 243 MiB resident for 50 projects and 340 MiB for 1000
/// (jemalloc: 44 and 126). Measured in BENCHMARKS.md, "Idle connections, start and memory".
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
const EXIT_BAD_CONFIG: u8 = 64;
/// `EX_UNAVAILABLE` from sysexits.h: PostgreSQL or Redis cannot be reached.
const EXIT_UNAVAILABLE: u8 = 69;
/// `EX_CANTCREAT` from sysexits.h: the backup before a migration cannot be written.
const EXIT_NO_BACKUP: u8 = 73;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => args,
        Command::User(UserCommand::Add(args)) => return add_user(args),
        Command::Backup(args) => return backup(args),
        Command::Restore(args) => return restore(args),
        Command::CheckConfig(args) => return check_config(args),
    };
    let overrides = Overrides {
        bind: args.bind,
        data_dir: args.data_dir,
    };
    let config = match Config::load(args.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("helpyap: bad configuration: {error}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    helpyap::logging::init(config.server.log_level, config.server.log_format);
    match runtime().block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("helpyap: {error:#}");
            let store_error = error.downcast_ref::<StoreError>();
            if let Some(StoreError::NewerSchema { .. }) = store_error {
                ExitCode::from(EXIT_BAD_CONFIG)
            } else if let Some(StoreError::BackupBeforeMigrating { .. }) = store_error {
                ExitCode::from(EXIT_NO_BACKUP)
            } else if error.downcast_ref::<Unreachable>().is_some() {
                ExitCode::from(EXIT_UNAVAILABLE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(&config).await?;
    let listener = app.bind(config.server.bind).await?;
    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    app.serve(listener, shutdown_signal()).await
}

/// `helpyap check-config`: the effective configuration (file, then environment; secrets
/// redacted) on stdout, then every problem on stderr; exit 64 when there is any.
fn check_config(args: CheckConfigArgs) -> ExitCode {
    let config = match Config::read(args.config.as_deref(), &Overrides::default()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("helpyap: bad configuration: {error}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match toml::to_string_pretty(&config) {
        Ok(text) => println!("# effective configuration from {}\n{text}", config.origin),
        Err(error) => eprintln!("helpyap: the configuration cannot be shown: {error}"),
    }
    let problems = config.problems();
    if problems.is_empty() {
        eprintln!("helpyap: {}: no problems", config.origin);
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        eprintln!("helpyap: {}: {problem}", config.origin);
    }
    ExitCode::from(EXIT_BAD_CONFIG)
}

/// The config of a command that works on the store of a stopped server.
fn store_config(args: StoreArgs) -> Result<Config, ExitCode> {
    let names_a_directory = args.data_dir.is_some();
    let overrides = Overrides {
        bind: None,
        data_dir: args.data_dir,
    };
    let config = Config::load(args.config.as_deref(), &overrides).map_err(|error| {
        eprintln!("helpyap: bad configuration: {error}");
        ExitCode::from(EXIT_BAD_CONFIG)
    })?;
    if names_a_directory && config.cluster.is_some() {
        eprintln!(
            "helpyap: --data-dir names a single node's store, but this configuration is in \
             cluster mode (its records are in PostgreSQL): leave out one or the other"
        );
        return Err(ExitCode::from(EXIT_BAD_CONFIG));
    }
    Ok(config)
}

fn finish<T>(result: anyhow::Result<T>, done: impl FnOnce(T) -> String) -> ExitCode {
    match result {
        Ok(value) => {
            println!("{}", done(value));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("helpyap: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `helpyap backup --out FILE`: the store of a stopped server to one new file; in cluster mode
/// the cluster's PostgreSQL (which may be in use), copied through a temporary sled store so the
/// file is the same format either way.
fn backup(args: BackupArgs) -> ExitCode {
    let config = match store_config(args.store) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let create = |path: &std::path::Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))
    };
    let write = |store: &SledStore, file: std::fs::File| {
        let mut out = std::io::BufWriter::new(file);
        let summary = store.backup_to(&mut out)?;
        out.into_inner()
            .map_err(|error| error.into_error())?
            .sync_all()?;
        anyhow::Ok(summary)
    };
    let result = match &config.cluster {
        None => (|| {
            let store = SledStore::open(&config.store.path).context(
                "while the server runs, take a backup with GET /api/admin/backup instead",
            )?;
            write(&store, create(&args.out)?)
        })(),
        Some(cluster) => runtime().block_on(async {
            if args.out.exists() {
                anyhow::bail!("{} exists already", args.out.display());
            }
            let postgres =
                PgStore::connect(&cluster.postgres_url, &config.migration_backups()).await?;
            let staging = tempfile::tempdir().context("cannot make a temporary directory")?;
            let sled = SledStore::open(staging.path())?;
            copy(&postgres, &sled).await?;
            // Created only now: a failure above leaves no empty file behind.
            write(&sled, create(&args.out)?)
        }),
    };
    finish(result, |summary| {
        format!(
            "wrote {} records of {} trees to {}",
            summary.records,
            summary.trees,
            args.out.display()
        )
    })
}

/// `helpyap restore FILE`: a backup into a new, empty store directory; in cluster mode into the
/// cluster's PostgreSQL database, which must hold no projects or users yet.
fn restore(args: RestoreArgs) -> ExitCode {
    let config = match store_config(args.store) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let file = args.file.clone();
    let read = || std::fs::File::open(&file).map(std::io::BufReader::new);
    let restoring = || format!("restoring {}", args.file.display());
    let Some(cluster) = &config.cluster else {
        let result = SledStore::restore(&config.store.path, read).with_context(restoring);
        return finish(result, |summary| {
            format!(
                "restored {} records of {} trees into {}",
                summary.records,
                summary.trees,
                config.store.path.display()
            )
        });
    };
    let result = runtime().block_on(async {
        let staging = tempfile::tempdir().context("cannot make a temporary directory")?;
        let path = staging.path().join("store");
        SledStore::restore(&path, read).with_context(restoring)?;
        let sled = SledStore::open_restored(&path)?;
        let postgres = PgStore::connect(&cluster.postgres_url, &config.migration_backups()).await?;
        anyhow::Ok(copy(&sled, &postgres).await?)
    });
    finish(result, |summary| {
        format!("restored {summary} into PostgreSQL")
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a tokio runtime starts on any supported OS")
}

/// `helpyap user add`: writes the user straight into the store of a stopped server.
fn add_user(args: UserAddArgs) -> ExitCode {
    let config = match store_config(args.store) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mut password = String::new();
    if std::io::stdin().read_line(&mut password).is_err() {
        eprintln!("helpyap: could not read the password from standard input");
        return ExitCode::FAILURE;
    }
    let password = password.trim_end_matches(['\r', '\n']);
    let result = runtime().block_on(async {
        let user = accounts::new_user(&args.email, password, args.admin)?;
        let store: Store = match &config.cluster {
            None => Arc::new(SledStore::open(&config.store.path)?),
            Some(cluster) => Arc::new(
                PgStore::connect(&cluster.postgres_url, &config.migration_backups()).await?,
            ),
        };
        accounts::add_user_offline(store, user.clone()).await?;
        anyhow::Ok(user)
    });
    finish(result, |user| {
        let what = if user.admin {
            "admin"
        } else {
            "no projects yet"
        };
        format!("added {} ({what})", user.email)
    })
}
