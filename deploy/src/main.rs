//! `deploy`: puts the docclass pipeline on Amazon ECS from one stack file (`deploy/stack.example.toml`)
//! and sizes its pools to their backlog. The same commands are `docclass deploy …`.

use clap::Parser;

/// Deploys docclass to Amazon ECS from a stack file, and sizes its pools to their backlog.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    deploy: deploy::cli::DeployArgs,
}

fn main() -> std::process::ExitCode {
    match deploy::cli::run(Cli::parse().deploy) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("deploy: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
