//! `tollgate-sandbox`: serve the four imitated providers on one port (or one provider at the
//! root of its own port), print the keys they accept, and run until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tollgate_sandbox::{Provider, Sandbox, Seed};

/// A local server that behaves like RocketReach, RequestRocket, Enrich and Spider News.
#[derive(Debug, Parser)]
#[command(name = "tollgate-sandbox", version)]
struct Args {
    /// The port to listen on (0: any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// A JSON file of accounts and keys to accept besides the built-in ones.
    #[arg(long)]
    seed_file: Option<PathBuf>,
    /// Serve only this provider, at the root of the port, with its real paths
    /// (rocketreach, requestrocket, enrich, spidernews).
    #[arg(long)]
    provider: Option<Provider>,
    /// Seconds a batch job takes from submit to completed.
    #[arg(long, default_value_t = 3.0)]
    job_seconds: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Each request is logged to stderr (method, path, status; never keys); RUST_LOG overrides.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("tollgate_sandbox=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tollgate-sandbox: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let seed = match &args.seed_file {
        Some(path) => Seed::from_file(path).map_err(|e| e.to_string())?,
        None => Seed::default(),
    };
    if !args.job_seconds.is_finite() || args.job_seconds < 0.0 {
        return Err(format!(
            "--job-seconds must be a number of seconds of at least 0, got {}",
            args.job_seconds
        ));
    }
    let mut builder = Sandbox::builder()
        .address(format!("{}:{}", args.host, args.port))
        .seed(seed)
        .job_duration(Duration::from_secs_f64(args.job_seconds));
    if let Some(provider) = args.provider {
        builder = builder.only(provider);
    }
    let sandbox = builder.start().await.map_err(|e| e.to_string())?;
    println!("tollgate sandbox listening on http://{}", sandbox.address());
    for provider in sandbox.providers() {
        println!("{:<14} {}", provider.name(), sandbox.base_url(provider));
        for key in sandbox.keys(provider) {
            let balance = sandbox
                .account(provider, &key)
                .map(|a| a.remaining())
                .unwrap_or_default();
            match provider {
                Provider::SpiderNews => println!("  key {key}  ({balance} rows)"),
                Provider::RequestRocket => println!("  token {key}"),
                _ => println!("  key {key}  ({balance} credits)"),
            }
        }
    }
    println!(
        "admin API: http://{}/_sandbox/faults, /_sandbox/accounts (Ctrl-C stops)",
        sandbox.address()
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("could not wait for Ctrl-C: {e}"))?;
    drop(sandbox);
    Ok(())
}
