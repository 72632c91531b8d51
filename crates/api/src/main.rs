//! `api` serves; `api migrate` runs the migrations; `api openapi` prints the
//! spec; `api create-admin USERNAME` makes an admin.

use std::process::ExitCode;

use api::{Application, Config, create_admin, db, startup, telemetry};

/// mimalloc rather than glibc's malloc: under load, glibc's arena locks
/// took a quarter of a request's CPU (measured with `perf`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().cloned();
    if command.as_deref() == Some("openapi") {
        print!("{}", startup::openapi_json());
        return ExitCode::SUCCESS;
    }
    let admin_username = match command.as_deref() {
        Some("create-admin") => {
            match create_admin::Args::parse(args.get(1..).unwrap_or_default()) {
                create_admin::Args::Help => {
                    print!("{}", create_admin::HELP);
                    return ExitCode::SUCCESS;
                }
                create_admin::Args::Invalid => {
                    eprint!("{}", create_admin::HELP);
                    return ExitCode::from(2);
                }
                create_admin::Args::Username(username) => Some(username),
            }
        }
        _ => None,
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    if let Some(username) = admin_username {
        return match create_admin::run(&config, &username, create_admin::read_password).await {
            Ok(outcome) => {
                println!("{}", outcome.describe());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(e.exit_code())
            }
        };
    }
    let result = match command.as_deref() {
        None | Some("serve") => serve(config).await,
        Some("migrate") => migrate(config).await,
        Some(other) => {
            eprintln!(
                "unknown command `{other}`; use `api` (serve), `api migrate`, `api openapi` or `api create-admin USERNAME`"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "stopped");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let backend = config.session_backend;
    let app = Application::build(config).await?;
    if let Some(addr) = app.metrics_addr() {
        tracing::info!(%addr, "serving metrics at /metrics");
    }
    tracing::info!(addr = %app.local_addr(), session_backend = ?backend, "serving");
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    db::migrate(&db).await?;
    tracing::info!("migrations applied");
    Ok(())
}
