//! A load run: workers that generate, send and count, until the duration or
//! the request count is reached.
//!
//! # Flow
//!
//! ```text
//! Options ─plan─▶ Plan ─▶ reachability check (TCP connect) ─▶ N workers ─▶ Stats ─▶ Summary
//!                                                      │ each: reserve slot (RateSchedule, or none
//!                                                      │ at rate 0) ─▶ wait until due ─▶ Generator
//!                                                      │ ─▶ Client::send (─▶ retries) ─▶ count
//!                                                      └ progress line every 500 ms
//! ```
//!
//! # Shutdown
//!
//! Workers stop taking new requests at the end of the duration, after
//! `--requests` requests, or when the caller's shutdown future resolves (the
//! binary's is Ctrl-C); requests in flight finish (each is
//! bounded by `--timeout`) and are counted, so the run ends at most one timeout
//! after its duration. A retry is only attempted if its delay ends before the
//! end of the run.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::client::{Client, ClientFactory, Outcome};
use crate::error::LoadgenError;
use crate::generate::{Generator, GeneratorConfig, Request};
use crate::options::{Options, Plan};
use crate::phase::ServiceSettings;
use crate::progress;
use crate::schedule::RateSchedule;
use crate::stats::Stats;
use crate::summary::Summary;

/// Attempts after the first, with `--retry`.
const MAX_RETRIES: u32 = 5;
/// The first backoff when a refusal names no delay; doubles per retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait for the reachability check.
const CONNECT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the load `options` describe and returns its summary. Shows the
/// progress line on stderr unless `options.quiet` or stderr is not a terminal.
///
/// Errors: invalid options, or an endpoint that accepts no connection or
/// answered no request at all.
pub async fn run(options: &Options) -> Result<Summary, LoadgenError> {
    run_until(options, std::future::pending()).await
}

/// [`run`], stopping early (finishing the requests in flight) when `shutdown`
/// resolves: the binary passes Ctrl-C. A library caller that passes nothing
/// keeps its own signal handling.
pub async fn run_until(
    options: &Options,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, LoadgenError> {
    let plan = options.plan()?;
    let progress = !options.quiet && std::io::stderr().is_terminal();
    run_plan(plan, progress, shutdown).await
}

/// What the workers share.
#[derive(Debug)]
struct Shared {
    plan: Plan,
    start: Instant,
    deadline: Option<Instant>,
    schedule: Option<RateSchedule>,
    stats: Arc<Stats>,
    /// Requests claimed so far, against `--requests`.
    claimed: AtomicU64,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps until `until`; false if the run was stopped meanwhile.
    async fn sleep_until(&self, until: Instant) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => !self.stopped(),
            _ = stop.wait_for(|stopped| *stopped) => false,
        }
    }

    /// Whether `--requests` requests have been claimed.
    fn requests_exhausted(&self) -> bool {
        self.plan
            .requests
            .is_some_and(|max| self.claimed.load(Ordering::Relaxed) >= max)
    }

    /// Whether the run ends before `at`.
    fn ends_before(&self, at: Instant) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= at)
    }
}

/// Runs a validated plan until it ends or `shutdown` resolves.
pub async fn run_plan(
    plan: Plan,
    progress: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, LoadgenError> {
    check_reachable(&plan).await?;
    let factory = ClientFactory::new(&plan)?;
    let clients = (0..plan.concurrency)
        .map(|_| factory.client())
        .collect::<Result<Vec<_>, _>>()?;
    let run_id = plan.seed.rotate_left(17) ^ u64::from(std::process::id());
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let shared = Arc::new(Shared {
        start,
        deadline: plan.duration.map(|d| start + d),
        schedule: (plan.rate > 0.0).then(|| RateSchedule::new(start, plan.rate, plan.duration)),
        stats: Arc::new(Stats::default()),
        claimed: AtomicU64::new(0),
        stop: stop_rx.clone(),
        plan,
    });
    let progress_task = progress.then(|| {
        tokio::spawn(progress::draw(
            Arc::clone(&shared.stats),
            start,
            stop_rx.clone(),
        ))
    });
    let mut workers = tokio::task::JoinSet::new();
    for (worker, client) in clients.into_iter().enumerate() {
        let generator =
            Generator::new(generator_config(&shared.plan, worker, run_id), unix_nanos());
        workers.spawn(work(Arc::clone(&shared), generator, client));
    }
    let mut interrupted = false;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            joined = workers.join_next() => {
                if joined.is_none() {
                    break;
                }
            }
            () = &mut shutdown, if !interrupted => {
                interrupted = true;
                tracing::info!("stopping early, finishing the requests in flight");
                let _ = stop_tx.send(true);
            }
        }
    }
    // A run that went its full course lasted its duration, even if the last
    // fixed-rate slot was answered before the end.
    let mut elapsed = start.elapsed();
    if !interrupted
        && !shared.requests_exhausted()
        && let Some(duration) = shared.plan.duration
    {
        elapsed = elapsed.max(duration);
    }
    let _ = stop_tx.send(true);
    if let Some(task) = progress_task {
        let _ = task.await;
    }
    let totals = shared.stats.snapshot();
    if totals.answered == 0 && totals.requests_failed > 0 {
        return Err(LoadgenError::Unreachable {
            endpoint: shared.plan.endpoint.clone(),
            reason: totals
                .first_error
                .unwrap_or_else(|| "no request was answered".to_owned()),
        });
    }
    Ok(Summary::new(&shared.plan, &totals, elapsed))
}

/// Fails fast, before any worker starts, when nothing listens at the endpoint.
async fn check_reachable(plan: &Plan) -> Result<(), LoadgenError> {
    let unreachable = |reason: String| LoadgenError::Unreachable {
        endpoint: plan.endpoint.clone(),
        reason,
    };
    let wait = plan.timeout.min(CONNECT_CHECK_TIMEOUT);
    match tokio::time::timeout(wait, tokio::net::TcpStream::connect(&plan.authority)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no connection within {wait:?}"))),
    }
}

/// Unix time in nanoseconds.
/// The generator settings of worker `worker` of a run of `plan`.
fn generator_config(plan: &Plan, worker: usize, run_id: u64) -> GeneratorConfig {
    GeneratorConfig {
        signal: plan.signal,
        services: plan.services.clone(),
        operations: plan.operations,
        attributes: plan.attributes,
        attribute_bytes: plan.attribute_bytes,
        attribute_skew: plan.attribute_skew,
        worker,
        run_id,
        seed: plan.seed,
    }
}

/// The first `per_worker` requests of each of a run's workers, made as the
/// run makes them (its services, batch, attributes, seed, and the scenario's
/// settings at its start) but not sent: for measuring, in process, what
/// handling exactly the payloads of a run costs (the end-to-end benchmark's
/// decode-only baseline).
pub fn sample_requests(plan: &Plan, per_worker: usize) -> Vec<Request> {
    let settings: Vec<_> = plan
        .services
        .iter()
        .map(|service| plan.scenario.settings(service, Duration::ZERO))
        .collect();
    let now = unix_nanos();
    (0..plan.concurrency)
        .flat_map(|worker| {
            let mut generator = Generator::new(generator_config(plan, worker, plan.seed), now);
            (0..per_worker)
                .map(|_| generator.generate(plan.batch, &settings, now))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One worker: reserve, wait, generate, send, count, until the run ends.
async fn work(shared: Arc<Shared>, mut generator: Generator, mut client: Client) {
    let plan = &shared.plan;
    let mut settings: Vec<ServiceSettings> = Vec::with_capacity(plan.services.len());
    loop {
        if shared.stopped() {
            break;
        }
        if shared.requests_exhausted() {
            break;
        }
        let (due, records) = match &shared.schedule {
            Some(schedule) => {
                let slot = schedule.reserve(plan.batch, |at| {
                    plan.scenario.rate_factor(&plan.services, at)
                });
                let Some((due, records)) = slot else { break };
                if records == 0 {
                    if !shared.sleep_until(due).await {
                        break;
                    }
                    continue;
                }
                (Some(due), records)
            }
            None => {
                if shared.ends_before(Instant::now()) {
                    break;
                }
                (None, plan.batch)
            }
        };
        // Claimed before waiting, so no worker sleeps for a request it may not send.
        if let Some(max) = plan.requests
            && shared.claimed.fetch_add(1, Ordering::Relaxed) >= max
        {
            break;
        }
        if let Some(due) = due
            && !shared.sleep_until(due).await
        {
            break;
        }
        let elapsed = shared.start.elapsed();
        settings.clear();
        settings.extend(
            plan.services
                .iter()
                .map(|service| plan.scenario.settings(service, elapsed)),
        );
        let request = generator.generate(records, &settings, unix_nanos());
        let mut retry = 0;
        loop {
            let attempt = client.send(&request).await;
            shared.stats.attempt(records, &attempt, retry > 0);
            if plan.retry
                && retry < MAX_RETRIES
                && let Outcome::Refused {
                    retryable: true,
                    retry_after,
                    ..
                } = &attempt.outcome
            {
                let backoff = (FIRST_BACKOFF * 2u32.pow(retry)).min(MAX_BACKOFF);
                let resume = Instant::now() + retry_after.unwrap_or(backoff);
                if !shared.ends_before(resume) && shared.sleep_until(resume).await {
                    retry += 1;
                    continue;
                }
            }
            shared.stats.finish(records, &attempt);
            if let Outcome::Failed { kind, message } = &attempt.outcome {
                tracing::debug!(kind, message, "request failed");
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests;
