//! `realtime-reference-server`: see `--help` and `server/README.md`.

use realtime_reference_server::{start, Cli, Config, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match Config::parse_args(std::env::args().skip(1)) {
        Ok(Cli::Run(c)) => c,
        Ok(Cli::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("realtime-reference-server: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,str0m=warn".into());
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("realtime-reference-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match start(config.clone()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("realtime-reference-server: cannot bind {}:{}: {e}", config.host, config.port);
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            "listening on http://{} (media udp {}, www {}, pkg {}, api keys: {})",
            server.http_addr,
            server.udp_addr,
            config.www.display(),
            config.pkg.display(),
            if config.api_keys.is_some() { "restricted" } else { "any non-empty" }
        );
        shutdown_signal().await;
        tracing::info!("shutting down");
        server.stop().await;
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
