//! Wiring and lifecycle: bind, start the shards, serve, and on SIGINT/SIGTERM
//! shut down in order.
//!
//! # Shutdown
//!
//! 1. `/readyz` turns 503 so load balancers move away.
//! 2. The receivers stop accepting and finish the requests in flight.
//! 3. The pipeline refuses anything later and tells every shard to stop; each
//!    writes everything it holds.
//! 4. With everything in files, the WAL is emptied, and the process exits 0.
//!    If this takes longer than `node.shutdown_timeout`, or a second signal
//!    arrives, it exits non-zero at once; the WAL still holds what was not
//!    written, and the next start replays it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use sluice_alert::Notifier;
use sluice_model::budget::MemoryBudget;
use sluice_otlp::{Admission, ExportHandler};
use sluice_pipeline::{Pipeline, PipelineSetup};
use sluice_query::{ApiState, Readiness};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use crate::config::Config;

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(spec),
        _ => EnvFilter::try_new(&config.log.level),
    }
    .with_context(|| format!("log.level: {:?} is not a valid filter", config.log.level))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = if config.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

async fn bind(addr: &str, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({key})"))
}

/// SIGINT and SIGTERM, listened for from before the first port is bound, so a
/// signal that arrives right after startup is still a graceful shutdown.
struct Termination {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Termination {
    fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves at the next SIGINT or SIGTERM.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Removes old partitions on a timer, per `storage.retention` and
/// `storage.max_total_bytes`.
fn spawn_retention(config: &Config, store: Arc<dyn object_store::ObjectStore>) {
    let policy = config.storage.retention_policy();
    if policy == sluice_storage::retention::RetentionPolicy::default() {
        return;
    }
    let every = config.storage.retention_interval.get();
    let local_dir = sluice_storage::local_dir(&config.storage.root);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
            match sluice_storage::retention::enforce(&store, policy, now, local_dir.as_deref())
                .await
            {
                Ok(report) => {
                    ::metrics::counter!(sluice_storage::metrics::RETENTION_REMOVED)
                        .increment(report.partitions_removed as u64);
                    ::metrics::gauge!(sluice_storage::metrics::STORED_BYTES)
                        .set(report.bytes_kept as f64);
                }
                Err(error) => tracing::warn!(%error, "retention pass failed"),
            }
        }
    });
}

/// On SIGHUP, reads the config file (and environment) again and applies the
/// `[[slo]]` entries; SLO state lives in stored rollups, so nothing is lost. A
/// file that does not load is reported and the running definitions stay.
/// Other settings need a restart.
fn spawn_reload_on_sighup(
    path: Option<std::path::PathBuf>,
    slo: sluice_query::SloEngine,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match Config::load(path.as_deref(), std::env::vars()) {
                    Ok(config) => {
                        let count = config.slo.len();
                        slo.replace(config.slo);
                        tracing::info!(slos = count, "config reloaded: SLO definitions applied");
                        let slo = slo.clone();
                        tokio::spawn(async move { slo.warm().await });
                    }
                    Err(error) => {
                        tracing::error!(%error, "config reload failed; keeping the running SLO definitions")
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (path, slo);
    Ok(())
}

/// Resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Upper bounds (seconds) of the buckets of every `*_seconds` metric: request
/// and fsync times from half a millisecond, file writes up to half a minute,
/// closer together around 10 ms, where acknowledgement targets usually sit.
///
/// Exported as Prometheus histograms rather than the exporter's default
/// summaries: a summary's quantiles cover a rolling window of the exporter's
/// own choosing (here they showed a 1.5 ms maximum over a run that had
/// requests of 55 ms), while bucket counts are exact, add up across nodes, and
/// give `histogram_quantile` over whatever range the query asks for.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Runs the daemon until a termination signal, then shuts down in order.
pub fn run(config: Config, config_path: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    init_logging(&config)?;
    let metrics = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .context("cannot set the metrics' buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let io_slice = config.receivers.io_slice;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice-io")
        .on_thread_start(move || {
            // Blocking-pool threads come and go: one warning is enough.
            static WARNED: std::sync::Once = std::sync::Once::new();
            if let Err(error) = sluice_model::slice::set_current_thread_slice(io_slice.get()) {
                WARNED.call_once(|| {
                    tracing::warn!(slice = %io_slice, %error, "cannot set the i/o threads' scheduler slice; they keep the default");
                });
            }
        })
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(config, config_path, metrics));
    // Requests still in flight after a failed shutdown are abandoned here.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(
    config: Config,
    config_path: Option<std::path::PathBuf>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> anyhow::Result<()> {
    let mut termination = Termination::listen()?;
    let grpc_listener = bind(&config.receivers.grpc_listen, "receivers.grpc_listen").await?;
    let http_listener = bind(&config.receivers.http_listen, "receivers.http_listen").await?;
    let api_listener = bind(&config.api.listen, "api.listen").await?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let api_addr = api_listener.local_addr()?;

    let node = config.node_id();
    let store = sluice_storage::open_store(&config.storage.root).context("storage.root")?;
    spawn_retention(&config, Arc::clone(&store));
    let sql = sluice_query::SqlEngine::new(Arc::clone(&store), config.query.clone());
    let slo = sluice_query::SloEngine::new(sql.clone(), config.slo.clone());
    tokio::spawn({
        let slo = slo.clone();
        async move { slo.warm().await }
    });
    spawn_reload_on_sighup(config_path, slo.clone())?;
    let alerts = if config.alerting.is_enabled() {
        let (notifier, dispatcher) =
            Notifier::start(config.alerting.clone()).context("cannot start alerting")?;
        crate::alerting::spawn_slo_alerts(
            slo.clone(),
            notifier.clone(),
            config.alerting.slo_evaluation_interval.get(),
        );
        Some((notifier, dispatcher))
    } else {
        None
    };
    let anomaly_sink = crate::alerting::anomaly_sink(alerts.as_ref().map(|(n, _)| n));
    let budget_bytes = config.memory_budget().map_err(anyhow::Error::msg)?;
    let budget = MemoryBudget::new(budget_bytes);
    let admission = Admission {
        budget: Arc::clone(&budget),
        bytes_per_request_byte: config.memory.bytes_per_request_byte,
        retry_after: config.pipeline.retry_after.get(),
    };
    let setup_config = config.clone();
    let runtime = tokio::runtime::Handle::current();
    let node_id = node.clone();
    let (pipeline, shards) = tokio::task::spawn_blocking(move || {
        Pipeline::start(PipelineSetup {
            pipeline: &setup_config.pipeline,
            storage: &setup_config.storage,
            wal: &setup_config.wal,
            store,
            runtime,
            node: &node_id,
            budget,
            bytes_per_request_byte: setup_config.memory.bytes_per_request_byte,
            watch: Some(&setup_config.anomaly),
            anomaly_sink,
        })
    })
    .await
    .context("startup panicked")?
    .context("cannot start the pipeline")?;
    let handler = ExportHandler::new(
        Arc::clone(&pipeline) as _,
        config.receivers.clone(),
        admission,
    );

    let (stop_receivers, receivers_stopped) = watch::channel(false);
    let (stop_api, api_stopped) = watch::channel(false);
    let readiness = Readiness::default();
    let grpc = tokio::spawn(sluice_otlp::grpc::serve(
        grpc_listener,
        handler.clone(),
        stopped(receivers_stopped.clone()),
    ));
    let http = tokio::spawn(sluice_otlp::http::serve(
        http_listener,
        handler,
        stopped(receivers_stopped),
    ));
    let api_state = ApiState {
        readiness: readiness.clone(),
        metrics,
        sql,
        slo,
    };
    let api = tokio::spawn(sluice_query::serve(
        api_listener,
        api_state,
        stopped(api_stopped),
    ));

    readiness.set(true);
    tracing::info!(
        grpc = %grpc_addr,
        http = %http_addr,
        api = %api_addr,
        shards = pipeline.shards(),
        replayed = pipeline.replayed().records,
        memory_budget = budget_bytes,
        root = %config.storage.root,
        node = %node,
        "sluice ready"
    );

    termination.recv().await;
    tracing::info!("shutting down: draining receivers and writing buffered data");
    readiness.set(false);
    tokio::spawn(async move {
        termination.recv().await;
        tracing::error!("second signal: exiting without writing buffered data");
        std::process::exit(130);
    });

    let timeout = config.node.shutdown_timeout.get();
    let drain = async {
        let _ = stop_receivers.send(true);
        match grpc.await {
            Ok(Err(e)) => tracing::error!(error = %e, "grpc receiver failed"),
            Err(e) => tracing::error!(error = %e, "grpc receiver panicked"),
            Ok(Ok(())) => {}
        }
        match http.await {
            Ok(Err(e)) => tracing::error!(error = %e, "http receiver failed"),
            Err(e) => tracing::error!(error = %e, "http receiver panicked"),
            Ok(Ok(())) => {}
        }
        // Off the async workers: a stalled shard must not keep the timeout
        // below from firing.
        let pipeline = Arc::clone(&pipeline);
        tokio::task::spawn_blocking(move || {
            pipeline.close();
            shards.join()
        })
        .await
    };
    let stats = match tokio::time::timeout(timeout, drain).await {
        Ok(Ok(stats)) => stats,
        Ok(Err(e)) => anyhow::bail!("shard threads failed during shutdown: {e}"),
        Err(_) => anyhow::bail!(
            "shutdown did not finish within node.shutdown_timeout ({})",
            config.node.shutdown_timeout
        ),
    };
    pipeline.retire_wal();
    if let Some((notifier, dispatcher)) = alerts {
        // Sends what is pending once; bounded by the request timeout.
        notifier.shutdown();
        let limit = config.alerting.timeout.get() * 2;
        if tokio::time::timeout(limit, dispatcher).await.is_err() {
            tracing::warn!("alert notifications still pending at exit were not sent");
        }
    }
    let _ = stop_api.send(true);
    let _ = api.await;
    tracing::info!(
        rows = stats.rows_written,
        files = stats.files_written,
        replay_skipped = stats.replay_skipped,
        "sluice stopped"
    );
    Ok(())
}
