//! The command line: `helpyap [serve] [--config FILE] [--bind ADDR] [--data-dir DIR]`,
//! `helpyap user add --email EMAIL --password-stdin`, `helpyap backup --out FILE`,
//! `helpyap restore FILE`, `helpyap check-config [--config FILE]` and `helpyap --version`.
//!
//! Parsing only (clap); what a command does lives in `main.rs` and `server.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "helpyap",
    version = VERSION,
    about = "AI support chat and live social proof for your site"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `helpyap --bind …` means `helpyap serve --bind …`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the widget, chat and social-proof API.
    Serve(ServeArgs),
    /// Manage admin users (with the server stopped: the store allows one process).
    #[command(subcommand)]
    User(UserCommand),
    /// Write the whole store to one file (server stopped; while it runs, use
    /// `GET /api/admin/backup`).
    Backup(BackupArgs),
    /// Restore a backup file into a new, empty store directory (server stopped).
    Restore(RestoreArgs),
    /// Print the effective configuration (secrets redacted) and every problem in it; exit 64
    /// when there is any.
    CheckConfig(CheckConfigArgs),
}

/// `helpyap --version`: the crate's version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HELPYAP_COMMIT"), ")");

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Config file; default ./config.toml, or the embedded defaults when that does not exist.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Where the store is: the config file's `store.path`, or `--data-dir`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Config file, for the store's location.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Store directory, overriding store.path.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write; it must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `helpyap backup` or `GET /api/admin/backup`.
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an admin user; the password is read from standard input.
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[arg(long)]
    pub email: String,
    /// Read the password from standard input (its first line), never from the command line.
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Owner of every project; without it the user has no projects until given a role.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub admin: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Config file; default ./config.toml, or the embedded defaults when that does not exist.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding server.bind (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Store directory, overriding store.path.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}
