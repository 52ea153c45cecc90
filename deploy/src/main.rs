//! `deploy`: puts the docclass pipeline on Amazon ECS from one stack file (`deploy/stack.example.toml`).

use std::path::PathBuf;

use clap::Parser;
use deploy::Stack;

/// Deploys docclass to Amazon ECS from a stack file.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write the task definitions (taskdef-<service>.json, for `aws ecs register-task-definition
    /// --cli-input-json`), the task-role policies (policy-<service>.json), the execution role's policy
    /// and trust, and the pools' scaling policies (scaling-<service>.json) into a folder.
    Render {
        /// The stack file.
        #[arg(long)]
        stack: PathBuf,
        /// The folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Render { stack, out } => {
            let stack = Stack::load(&stack)?;
            for name in deploy::render::write_all(&stack, &out)? {
                println!("{}", out.join(name).display());
            }
        }
    }
    Ok(())
}
