//! One provider crate from outside the workspace: Spider News under a budget of 500 rows.

use tollgate::{Budget, ErrorKind};
use tollgate_spidernews::Client;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let client = match Client::builder().budget(Budget::rows(500)).build() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let answer = client
        .find_paths()
        .source_name("Tesla")
        .target_name("Raytheon")
        .send()
        .await;
    match answer {
        Ok(paths) => println!("{} paths, {} rows", paths.paths.len(), paths.rows_returned),
        Err(e) if e.kind() == Some(ErrorKind::OutOfCredits) => eprintln!("no rows left: {e}"),
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("spent {} of 500 rows", client.runtime().ledger().spent());
    std::process::ExitCode::SUCCESS
}
