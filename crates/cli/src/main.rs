//! `tollgate`: see `tollgate --help`, and the crate docs of `tollgate-cli`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(tollgate_cli::run(std::env::args_os()))
}
