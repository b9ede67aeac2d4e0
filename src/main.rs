//! The `helpyap` binary: parses the command line, loads the config, and runs the server.
//!
//! A bad config exits with code 64 before any port is bound; any later failure exits with 1.
//! Everything else lives in the library so tests can run the same server in-process.

use std::process::ExitCode;

use clap::Parser;
use helpyap::cli::{Cli, Command, UserAddArgs, UserCommand};
use helpyap::config::{Config, Overrides};
use helpyap::server::{App, shutdown_signal};
use helpyap_actors::Store;
use helpyap_actors::accounts;

/// `EX_USAGE` from sysexits.h: the configuration is wrong.
const EXIT_BAD_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => args,
        Command::User(UserCommand::Add(args)) => return add_user(args),
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
    let runtime =
        tokio::runtime::Runtime::new().expect("a tokio runtime starts on any supported OS");
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("helpyap: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(&config).await?;
    let listener = app.bind(config.server.bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    app.serve(listener, shutdown_signal()).await
}

/// `helpyap user add`: writes the user straight into the store of a stopped server.
fn add_user(args: UserAddArgs) -> ExitCode {
    let overrides = Overrides {
        bind: None,
        data_dir: args.data_dir,
    };
    let config = match Config::load(args.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("helpyap: bad configuration: {error}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let mut password = String::new();
    if std::io::stdin().read_line(&mut password).is_err() {
        eprintln!("helpyap: could not read the password from standard input");
        return ExitCode::FAILURE;
    }
    let password = password.trim_end_matches(['\r', '\n']);
    let runtime =
        tokio::runtime::Runtime::new().expect("a tokio runtime starts on any supported OS");
    let result = runtime.block_on(async {
        let user = accounts::new_user(&args.email, password, args.admin)?;
        let store = Store::open(&config.store.path)?;
        accounts::add_user_offline(store, user.clone()).await?;
        anyhow::Ok(user)
    });
    match result {
        Ok(user) => {
            println!(
                "added {} ({})",
                user.email,
                if user.admin {
                    "admin"
                } else {
                    "no projects yet"
                }
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("helpyap: {error:#}");
            ExitCode::FAILURE
        }
    }
}
