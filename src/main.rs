//! The `ignis-agent` command: parse arguments, load the config, run until a
//! signal, drain, exit.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ignis_agent::agent::Agent;
use ignis_agent::components::{self, Config};
use ignis_agent::config::ConfigErrors;
use ignis_agent::inject;
use ignis_agent::metrics::Registry;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tracing::Instrument;

// Decoding allocates a string per attribute: mimalloc makes that about 40 %
// cheaper than the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ignis-agent",
    version,
    about = "OpenTelemetry sidecar: receives OTLP on localhost, enriches and redacts it, delivers it to Ignis Platform",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Config file (YAML, shaped like the OpenTelemetry Collector's). Without
    /// it, the built-in default runs: receive on localhost, export to debug + file.
    #[arg(long, short, global = true, env = "IGNIS_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent (the default).
    Run,
    /// Check a config file and report every error in it, then exit.
    Validate,
    /// Inspect or export disk queues (read-only), or replay them (stop the agent first).
    Queue {
        #[command(subcommand)]
        action: QueueCommand,
    },
    /// Run the config's redaction processors over OTLP/JSON lines (the
    /// `file` exporter's format), write them redacted to standard output and
    /// what was found to standard error: try a config (or `mode: audit`) on
    /// captured data first.
    Redact {
        /// The OTLP/JSON lines to read; `-` is standard input.
        #[arg(long, default_value = "-")]
        input: PathBuf,
    },
    /// Add the agent as a native sidecar to the workloads in Kubernetes
    /// YAML and write the result to standard output, with the ConfigMap
    /// holding its config (`--config`, else the shipped one):
    /// `ignis-agent inject app.yaml | kubectl apply -f -`
    Inject {
        /// The YAML to read; `-` is standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// The agent's image.
        #[arg(long, default_value = concat!("ignis/ignis-agent:", env!("CARGO_PKG_VERSION")))]
        image: String,
        /// Ignis Platform's OTLP endpoint (IGNIS_ENDPOINT); else the config's default.
        #[arg(long)]
        endpoint: Option<String>,
        /// Leave the apps' own OTEL_EXPORTER_OTLP_*ENDPOINT variables as they are.
        #[arg(long)]
        keep_endpoint: bool,
        /// Take out what inject added, restoring what it set aside.
        #[arg(long)]
        uninject: bool,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Per exporter and signal: records, items, bytes, oldest and newest ages.
    Inspect {
        /// The queue directory (`sending_queue.directory`).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Write what the queues hold as OTLP/JSON lines (the `file` exporter's
    /// format), leaving them as they are.
    Export {
        #[arg(long)]
        dir: PathBuf,
        /// Only this exporter's queues (`otlp_grpc/backup`).
        #[arg(long)]
        exporter: Option<String>,
        /// Where to write; `-` is standard output.
        #[arg(long)]
        out: PathBuf,
    },
    /// Send what the queues hold to an OTLP/HTTP endpoint, removing only
    /// what it acknowledged. Stop the agent first.
    Replay {
        #[arg(long)]
        dir: PathBuf,
        /// The OTLP/HTTP endpoint (`/v1/<signal>` is appended).
        #[arg(long)]
        to: String,
    },
}

fn queue(action: QueueCommand) -> ExitCode {
    use ignis_agent::queue_commands as tools;
    let result = match action {
        QueueCommand::Inspect { dir } => tools::inspect(&dir).map(|queues| {
            if queues.is_empty() {
                println!("no queues under {}", dir.display());
            }
            let age = |ms: Option<u64>| {
                ms.map_or("-".to_owned(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
            };
            for q in queues {
                println!(
                    "{}/{}: {} records, {} items, {} bytes, oldest {}, newest {}{}",
                    q.exporter,
                    q.signal,
                    q.records,
                    q.items,
                    q.bytes,
                    age(q.oldest_age_ms),
                    age(q.newest_age_ms),
                    if q.damaged > 0 {
                        format!(", {} damaged", q.damaged)
                    } else {
                        String::new()
                    }
                );
            }
        }),
        QueueCommand::Export { dir, exporter, out } => {
            let written = if out.as_os_str() == "-" {
                tools::export(&dir, exporter.as_deref(), &mut std::io::stdout().lock())
            } else {
                std::fs::File::create(&out).and_then(|file| {
                    let mut file = std::io::BufWriter::new(file);
                    let written = tools::export(&dir, exporter.as_deref(), &mut file)?;
                    std::io::Write::flush(&mut file)?;
                    Ok(written)
                })
            };
            written.map(|e| {
                eprintln!(
                    "exported {} requests ({} items); skipped {} damaged",
                    e.requests, e.items, e.skipped
                )
            })
        }
        QueueCommand::Replay { dir, to } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .and_then(|runtime| runtime.block_on(tools::replay(&dir, &to)))
            .and_then(|r| {
                eprintln!(
                    "replayed {} requests ({} items); {} left in the queues",
                    r.requests, r.items, r.left
                );
                match r.stopped {
                    Some(reason) => Err(std::io::Error::other(format!(
                        "stopped: the destination answered {reason}"
                    ))),
                    None => Ok(()),
                }
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ignis-agent queue: {e}");
            ExitCode::FAILURE
        }
    }
}

fn redact(config: &Config, input: &PathBuf) -> ExitCode {
    use ignis_agent::redact_command as command;
    if !command::has_redaction(config) {
        eprintln!("ignis-agent redact: the config has no `redaction` processor");
        return ExitCode::FAILURE;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let ran = if input.as_os_str() == "-" {
        command::run(config, &mut std::io::stdin().lock(), &mut out)
    } else {
        std::fs::File::open(input)
            .and_then(|file| command::run(config, &mut std::io::BufReader::new(file), &mut out))
    };
    let ran = ran.and_then(|ran| std::io::Write::flush(&mut out).map(|()| ran));
    match ran {
        Ok(ran) => {
            eprint!("{}", command::summary(&ran));
            if ran.refused_count == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("ignis-agent redact: {}: {e}", input.display());
            ExitCode::FAILURE
        }
    }
}

/// The production config (`config.yaml`), what `inject` ships by default.
const SHIPPED_CONFIG: &str = include_str!("../config.yaml");

/// Reads `file` (`-`: standard input), writes it injected (or uninjected)
/// to standard output.
fn inject_file(file: &PathBuf, options: &inject::Options, uninject: bool) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut text = String::new();
    if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text))
    }
    .map_err(|e| format!("{}: {e}", file.display()))?;
    let out = if uninject {
        inject::uninject(&text)
    } else {
        inject::inject(&text, options).map_err(|e| e.to_string())?
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| e.to_string())
}

/// Loads the config, its components registering their metrics in `metrics`
/// (a reload keeps the running agent's).
fn load(path: Option<&PathBuf>, metrics: &Arc<Registry>) -> Result<Config, ConfigErrors> {
    match path {
        Some(path) => components::load_file_with(path, metrics),
        None => components::load_str_with(
            components::DEFAULT_CONFIG,
            "<built-in default>",
            &|name| std::env::var(name).ok(),
            metrics,
        ),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let load_config = || load(cli.config.as_ref(), &Arc::new(Registry::default()));
    match cli.command.unwrap_or(Command::Run) {
        Command::Queue { action } => queue(action),
        Command::Redact { input } => match load_config() {
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
            Ok(config) => redact(&config, &input),
        },
        Command::Inject {
            file,
            image,
            endpoint,
            keep_endpoint,
            uninject,
        } => {
            let config = match &cli.config {
                None => Ok(SHIPPED_CONFIG.to_string()),
                Some(path) => load_config()
                    .map_err(|errors| format!("{errors}"))
                    .and_then(|_| std::fs::read_to_string(path).map_err(|e| e.to_string())),
            };
            let options = config.map(|config| inject::Options {
                image,
                endpoint,
                config,
                keep_endpoint,
            });
            match options.and_then(|o| inject_file(&file, &o, uninject)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ignis-agent inject: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Validate => match load_config() {
            Ok(config) => {
                println!(
                    "config is valid: {} receiver(s), {} exporter(s), {} pipeline(s)",
                    config.receivers.len(),
                    config.exporters.len(),
                    config.pipelines.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("{} error(s)", errors.0.len());
                ExitCode::FAILURE
            }
        },
        Command::Run => match load_config() {
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
            Ok(config) => match run(config, cli.config.clone()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ignis-agent: {e:#}");
                    ExitCode::FAILURE
                }
            },
        },
    }
}

fn run(config: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    let mut telemetry = ignis_agent::telemetry::init(&config.service.telemetry.logs);
    // std reads the cgroup CPU quota, so a pod limited to one CPU gets one
    // worker rather than one per host core. With one CPU, a current-thread
    // runtime saves the hand-offs between the I/O driver and the worker:
    // 12 % more spans/s flat out on one core (BENCHMARKS.md).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let mut signals = Signals::new()?;
        let mut config = config;
        let mut agent = start(&config).await?;
        telemetry.export(&config.service.telemetry, &agent.metrics).await;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), threads, "ignis-agent started");
        loop {
            match signals.next().await {
                Signal::Stop => break,
                Signal::Reload => {
                    // A bad new config is refused and the old one keeps running.
                    let new = match load(path.as_ref(), &agent.metrics) {
                        Ok(new) => new,
                        Err(errors) => {
                            tracing::error!(errors = %errors, "reload refused: the new config is not valid; keeping the old one");
                            continue;
                        }
                    };
                    tracing::info!("reloading: what did not change keeps running");
                    // One span per reload in the agent's own traces.
                    let span = tracing::info_span!(target: ignis_agent::SELF_SPANS, "reload", outcome = tracing::field::Empty, otel.status_code = tracing::field::Empty);
                    match agent.apply(&new).instrument(span.clone()).await {
                        Ok(()) => {
                            span.record("outcome", "applied");
                            telemetry.apply(&new.service.telemetry.logs);
                            telemetry.export(&new.service.telemetry, &agent.metrics).await;
                            config = new;
                            tracing::info!("reloaded");
                        }
                        Err(e) => {
                            span.record("outcome", "rolled back");
                            span.record("otel.status_code", "ERROR");
                            tracing::error!(error = %e, "the new config did not start; going back to the old one");
                            agent.apply(&config).await?;
                        }
                    }
                    drop(span);
                    log_listening(&agent);
                }
            }
        }
        tracing::info!(grace_period = ?config.service.grace_period.0, "shutting down: draining queues");
        let report = agent.shutdown().await;
        tracing::info!(
            drained = report.drained,
            left_on_disk = report.left_on_disk,
            dropped = report.dropped,
            "stopped"
        );
        telemetry.stop_export().await;
        Ok(())
    })
}

async fn start(config: &Config) -> anyhow::Result<Agent> {
    let agent = Agent::start(config).await?;
    log_listening(&agent);
    Ok(agent)
}

fn log_listening(agent: &Agent) {
    for (receiver, address) in &agent.listening {
        if receiver == "admin" {
            // Where a newcomer looks first.
            let page = format!("http://{address}/");
            tracing::info!(%receiver, %address, %page, "listening; the status page is at {page}");
        } else {
            tracing::info!(%receiver, %address, "listening");
        }
    }
}

enum Signal {
    Stop,
    Reload,
}

/// SIGTERM and SIGINT stop the agent; SIGHUP reloads its config.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
