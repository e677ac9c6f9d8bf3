//! Starts the real `sluice` binary on loopback ports with a fresh data root, and
//! reads back what it wrote, for the end-to-end tests in this folder.
//!
//! The binary is `E2E_SLUICE_BIN`, or `sluice` next to the test executable's
//! target directory (`cargo build -p sluice` first; `scripts/test` does).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The sluice binary under test.
pub fn sluice_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("E2E_SLUICE_BIN") {
        return PathBuf::from(bin);
    }
    // target/debug/deps/<test> -> target/debug/sluice
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join("sluice")
}

/// A running sluice.
#[derive(Debug)]
pub struct Sluice {
    child: Option<Child>,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub api: SocketAddr,
    pub root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// Settings for [`Sluice::start_with`]: extra `SLUICE_*` variables.
pub type Env<'a> = &'a [(&'a str, &'a str)];

impl Sluice {
    /// Starts sluice with a fresh data root, port-0 listeners, 1 s flushes.
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    pub fn start_with(env: Env<'_>) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("data");
        let mut sluice = Self::start_in(&root, env)?;
        sluice._dir = Some(dir);
        Ok(sluice)
    }

    /// Starts sluice on `root` (kept after the process ends).
    pub fn start_in(root: &Path, env: Env<'_>) -> Result<Self> {
        let bin = sluice_bin();
        if !bin.exists() {
            bail!(
                "{} does not exist: run `cargo build -p sluice` first",
                bin.display()
            );
        }
        let mut command = Command::new(&bin);
        for (key, _) in std::env::vars() {
            if key.starts_with("SLUICE_") {
                command.env_remove(key);
            }
        }
        command
            .env("SLUICE_RECEIVERS_GRPC_LISTEN", "127.0.0.1:0")
            .env("SLUICE_RECEIVERS_HTTP_LISTEN", "127.0.0.1:0")
            .env("SLUICE_API_LISTEN", "127.0.0.1:0")
            .env("SLUICE_STORAGE_ROOT", root)
            .env("SLUICE_STORAGE_FLUSH_INTERVAL", "1s")
            .env("SLUICE_NODE_ID", "e2e")
            .env("SLUICE_LOG_FORMAT", "json")
            .env("SLUICE_LOG_LEVEL", "info")
            .env_remove("RUST_LOG");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let pipe = child.stderr.take().context("stderr is piped")?;
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = stderr
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| v["fields"]["message"] == "sluice ready");
            if let Some(ready) = ready {
                let addr = |name: &str| -> Result<SocketAddr> {
                    let text = ready["fields"][name].as_str().context("address field")?;
                    Ok(text.parse()?)
                };
                return Ok(Self {
                    grpc: addr("grpc")?,
                    http: addr("http")?,
                    api: addr("api")?,
                    root: root.to_path_buf(),
                    child: Some(child),
                    _dir: None,
                    stderr,
                });
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "sluice exited with {status} before it was ready:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!(
                    "sluice was not ready after 20 s:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> Result<String> {
        Ok(reqwest::get(self.api_url("/metrics")).await?.text().await?)
    }

    /// Everything sluice logged so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                // Let the reader thread catch the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!(
                    "sluice did not stop within 30 s of SIGTERM:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        Some(self.child.as_ref()?.id())
    }

    /// The resident memory of the process, from `/proc` (Linux).
    pub fn rss_bytes(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kib * 1024)
    }

    /// Sends `signal` (e.g. `"TERM"`) without waiting.
    pub fn signal(&self, signal: &str) -> Result<()> {
        let child = self.child.as_ref().context("already stopped")?;
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -{signal} failed");
        }
        Ok(())
    }

    /// Stops every thread with SIGSTOP and waits until all are stopped. A
    /// write in progress finishes first (only a fatal signal cuts one short),
    /// so a kill -9 after this leaves no record half written.
    pub fn freeze(&self) -> Result<()> {
        let pid = self.child.as_ref().context("already stopped")?.id();
        self.signal("STOP")?;
        let all_stopped = || -> Option<bool> {
            let mut stopped = true;
            for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
                let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
                // The state follows the command name, which is in parentheses.
                let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
                stopped &= state == "T" || state == "t";
            }
            Some(stopped)
        };
        if wait_until(Duration::from_secs(10), || all_stopped() == Some(true)) {
            Ok(())
        } else {
            bail!("sluice did not stop within 10 s of SIGSTOP")
        }
    }

    /// Waits for the process to end by itself.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        Ok(child.wait()?)
    }

    /// Kills sluice with SIGKILL, as a crash or the OOM killer would.
    pub fn kill9(&mut self) -> Result<()> {
        let mut child = self.child.take().context("already stopped")?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Stops sluice and checks it exited 0 without a panic.
    pub fn stop_cleanly(&mut self) -> Result<()> {
        let status = self.stop()?;
        let logs = self.logs();
        if !status.success() {
            bail!("sluice exited with {status}:\n{logs}");
        }
        if logs.contains("panicked") {
            bail!("sluice panicked:\n{logs}");
        }
        Ok(())
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of the first sample of `name` whose labels include every one of
/// `labels` (e.g. `window="1h"`) in a Prometheus text exposition.
pub fn metric_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .find(|line| {
            (line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
                && labels.iter().all(|label| line.contains(label))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Every Parquet file under `dir`, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Reads every row of `table` for `tenant` under `root`.
pub fn read_table(root: &Path, tenant: &str, table: &str) -> Result<Vec<RecordBatch>> {
    let mut batches = Vec::new();
    for file in parquet_files(&root.join(tenant).join(table)) {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)?.build()?;
        for batch in reader {
            batches.push(batch?);
        }
    }
    Ok(batches)
}

/// Rows of `table` for `tenant` under `root`.
pub fn count_rows(root: &Path, tenant: &str, table: &str) -> Result<usize> {
    Ok(read_table(root, tenant, table)?
        .iter()
        .map(RecordBatch::num_rows)
        .sum())
}

/// The string values of `column` across `batches`.
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        let array = batch
            .column_by_name(column)
            .unwrap_or_else(|| panic!("no column {column}"));
        let formatter =
            arrow::util::display::ArrayFormatter::try_new(array.as_ref(), &Default::default())
                .unwrap();
        for i in 0..batch.num_rows() {
            out.push(formatter.value(i).to_string());
        }
    }
    out
}

/// A small deterministic random number generator (xorshift64*), so fault
/// tests pick "random" moments and offsets that a failure can reproduce.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `range`.
    pub fn range(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next_u64() % (range.end - range.start).max(1)
    }
}

/// The seed of a fault test: `E2E_SEED`, or a fixed default.
pub fn seed() -> u64 {
    std::env::var("E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED)
}

/// Polls `check` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// A real Alertmanager for the alerting tests.
#[path = "alertmanager.rs"]
pub mod alertmanager;
/// OTLP requests with known contents.
#[path = "fixtures.rs"]
pub mod fixtures;
