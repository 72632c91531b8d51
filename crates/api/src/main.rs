//! `api` serves; `api migrate` runs the migrations; `api openapi` prints the spec.

use std::process::ExitCode;

use api::{Application, Config, db, startup, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    if command.as_deref() == Some("openapi") {
        print!("{}", startup::openapi_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let result = match command.as_deref() {
        None | Some("serve") => serve(config).await,
        Some("migrate") => migrate(config).await,
        Some(other) => {
            eprintln!(
                "unknown command `{other}`; use `api` (serve), `api migrate` or `api openapi`"
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
