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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,str0m=warn".into());
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("realtime-reference-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Install the signal handlers before announcing readiness: a SIGTERM right after the
        // "listening" line must already shut down cleanly.
        let signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("realtime-reference-server: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let server = match start(config.clone()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "realtime-reference-server: cannot bind {}:{}: {e}",
                    config.host, config.port
                );
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            "listening on http://{} (media udp {}, www {}, pkg {}, api keys: {})",
            server.http_addr,
            server.udp_addr,
            config.www.display(),
            config.pkg.display(),
            if config.api_keys.is_some() {
                "restricted"
            } else {
                "any non-empty"
            }
        );
        signals.wait().await;
        tracing::info!("shutting down");
        server.stop().await;
        ExitCode::SUCCESS
    })
}

/// Ctrl-C and SIGTERM, registered up front.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
