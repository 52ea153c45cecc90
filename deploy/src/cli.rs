//! The `deploy` command line, shared by the `deploy` binary and `docclass deploy`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use adapters_aws::AwsSettings;

use crate::aws::{self, Clients, EcsPools, Pools, ScaleTarget};
use crate::compose::ComposePools;
use crate::stack::Stack;

/// Deploys docclass to Amazon ECS from a stack file, and sizes its pools to their backlog.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(subcommand)]
    command: Command,
    /// An AWS-compatible endpoint (moto server, LocalStack); unset for AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    endpoint_url: Option<String>,
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
    /// Show what `apply` would change, changing nothing.
    Plan {
        /// The stack file.
        #[arg(long)]
        stack: PathBuf,
    },
    /// Create or update queues, tables, log group, roles, cluster, task definitions, services and
    /// scaling; then wait for a steady state.
    Apply {
        /// The stack file.
        #[arg(long)]
        stack: PathBuf,
        /// Return once the changes are made, without waiting for the services to be steady.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for a steady state.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "15m")]
        wait_timeout: Duration,
    },
    /// Each service's tasks, deployment, scaling bounds and backlog.
    Status {
        /// The stack file.
        #[arg(long)]
        stack: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Size the classifier and writer pools to their queues' backlog (see `deploy/src/scaling.rs`).
    Scale {
        /// The stack file.
        #[arg(long)]
        stack: PathBuf,
        /// Keep watching (every --interval) until stopped; without it, one round.
        #[arg(long)]
        watch: bool,
        /// Time between rounds.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
        interval: Duration,
        /// Size the containers of this docker compose project (e.g. `docclass`, the folder's name)
        /// through the Docker Engine API, instead of the stack's ECS services.
        #[arg(long)]
        compose: Option<String>,
        /// With --compose: seconds a container stopped on scale-in has to finish its messages (the
        /// compose file's stop_grace_period).
        #[arg(long, default_value_t = docclass_types::topology::timeouts::STOP.as_secs() as i32)]
        stop_timeout_secs: i32,
    },
    /// Remove what `apply` made: only resources tagged with this stack, and the stack's queues and
    /// tables unless --keep-data.
    Destroy {
        /// The stack file.
        #[arg(long)]
        stack: PathBuf,
        /// Keep the queues and tables (and the documents and results in them).
        #[arg(long)]
        keep_data: bool,
        /// Really do it (there is no undo).
        #[arg(long)]
        yes: bool,
    },
}

/// Runs a `deploy` command.
///
/// # Errors
/// Whatever the command met.
pub fn run(args: DeployArgs) -> anyhow::Result<()> {
    if let Command::Render { stack, out } = &args.command {
        let stack = Stack::load(stack)?;
        for name in crate::render::write_all(&stack, out)? {
            println!("{}", out.join(name).display());
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run_on_aws(args))
}

async fn clients(stack: &Stack, endpoint_url: Option<String>) -> Clients {
    let settings = AwsSettings { endpoint_url, region: Some(stack.region.clone()), static_credentials: None };
    Clients::new(&settings).await
}

async fn run_on_aws(args: DeployArgs) -> anyhow::Result<()> {
    let load = |path: &Path| Stack::load(path);
    match args.command {
        Command::Render { .. } => unreachable!("rendered above, without AWS"),
        Command::Plan { stack } => {
            let stack = load(&stack)?;
            let clients = clients(&stack, args.endpoint_url).await;
            print!("{}", aws::plan(&stack, &clients).await?);
        }
        Command::Apply { stack, no_wait, wait_timeout } => {
            let stack = load(&stack)?;
            let clients = clients(&stack, args.endpoint_url).await;
            let plan = aws::plan(&stack, &clients).await?;
            print!("{plan}");
            if plan.is_empty() {
                return Ok(());
            }
            aws::apply(&stack, &clients, &plan, |line| eprintln!("deploy: {line}")).await?;
            println!("Applied {} change(s).", plan.changes().count());
            if !no_wait {
                aws::wait_until_steady(&stack, &clients, wait_timeout, |line| eprintln!("deploy: {line}")).await?;
            }
        }
        Command::Status { stack, json } => {
            let stack = load(&stack)?;
            let clients = clients(&stack, args.endpoint_url).await;
            let statuses = aws::status(&stack, &clients).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&statuses)?);
            } else {
                println!(
                    "{:<34} {:>7} {:>7} {:>7} {:>9}  {:<34} {:<12} {:>16}",
                    "SERVICE",
                    "DESIRED",
                    "RUNNING",
                    "PENDING",
                    "MIN-MAX",
                    "TASK DEFINITION",
                    "ROLLOUT",
                    "BACKLOG (IN FLIGHT)"
                );
                for s in statuses {
                    if !s.exists {
                        println!("{:<34} (not deployed)", s.service);
                        continue;
                    }
                    let bounds = s.min_max.map_or("-".into(), |(min, max)| format!("{min}-{max}"));
                    let backlog =
                        s.backlog.map_or("-".into(), |(visible, in_flight)| format!("{visible} ({in_flight})"));
                    println!(
                        "{:<34} {:>7} {:>7} {:>7} {:>9}  {:<34} {:<12} {:>16}",
                        s.service, s.desired, s.running, s.pending, bounds, s.task_definition, s.rollout, backlog
                    );
                }
            }
        }
        Command::Scale { stack, watch, interval, compose, stop_timeout_secs } => {
            let stack = load(&stack)?;
            let clients = clients(&stack, args.endpoint_url).await;
            let targets = ScaleTarget::all(&stack, &clients).await?;
            match compose {
                Some(project) => {
                    let pools = ComposePools::connect(&project, stop_timeout_secs).await?;
                    scale(&clients, &pools, targets, watch, interval).await?;
                }
                None => scale(&clients, &EcsPools::new(&stack, &clients), targets, watch, interval).await?,
            }
        }
        Command::Destroy { stack, keep_data, yes } => {
            let stack = load(&stack)?;
            anyhow::ensure!(
                yes,
                "destroy removes the stack {:?} and, without --keep-data, its queued documents and results: add --yes",
                stack.name
            );
            let clients = clients(&stack, args.endpoint_url).await;
            for what in aws::destroy(&stack, &clients, keep_data).await? {
                println!("removed {what}");
            }
        }
    }
    Ok(())
}

/// Scaler rounds until SIGTERM or Ctrl-C (or one round without `watch`), each decision printed on a line. While
/// watching, a failed round (SQS throttled, the Docker engine restarting) is reported and the next one
/// tries again: a scaler that exits on the first hiccup leaves the pools unattended.
async fn scale(
    clients: &Clients,
    pools: &impl Pools,
    mut targets: Vec<ScaleTarget>,
    watch: bool,
    interval: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // SIGTERM (what ECS and compose send) as well as Ctrl-C.
    let shutdown = worker_runtime::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let round = match aws::scale_once(clients, pools, &mut targets, started.elapsed()).await {
            Ok(round) => round,
            Err(error) if watch => {
                eprintln!("deploy scale: this round failed, trying again in {interval:?}: {error:#}");
                Vec::new()
            }
            Err(error) => return Err(error),
        };
        for (service, observation, decision) in round {
            println!(
                "{:<20} visible {:>6} in flight {:>6}  tasks {} → {}  ({})",
                service.name(),
                observation.visible,
                observation.in_flight,
                observation.current,
                decision.desired,
                decision.reason
            );
        }
        if !watch {
            return Ok(());
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}
