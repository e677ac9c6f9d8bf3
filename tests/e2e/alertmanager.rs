//! A real Prometheus Alertmanager (Debian package `prometheus-alertmanager`)
//! on a free loopback port, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// One receiver that notifies nobody; alerts grouped by service.
const CONFIG: &str = "\
route:
  receiver: sluice-test
  group_by: [service]
receivers:
  - name: sluice-test
";

/// A running Alertmanager.
#[derive(Debug)]
pub struct Alertmanager {
    child: Child,
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts one, or `None` (with a notice) when the package is missing and
    /// `E2E_REQUIRE_ALERTMANAGER` is not set.
    pub async fn start() -> Result<Option<Self>> {
        if !Path::new(BINARY).exists() {
            if std::env::var_os("E2E_REQUIRE_ALERTMANAGER").is_some() {
                bail!("{BINARY} is missing and E2E_REQUIRE_ALERTMANAGER is set");
            }
            eprintln!("skipped: {BINARY} is missing (apt-get install prometheus-alertmanager)");
            return Ok(None);
        }
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, CONFIG)?;
        let log = dir.path().join("alertmanager.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("start alertmanager")?;
        let mut am = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        for _ in 0..200 {
            if let Some(status) = am.child.try_wait()? {
                bail!("alertmanager exited with {status}:\n{}", am.log());
            }
            if reqwest::get(format!("{}/-/ready", am.url))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Some(am));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("alertmanager not ready after 10 s:\n{}", am.log())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The alerts Alertmanager holds that have not ended.
    pub async fn alerts(&self) -> Result<Vec<Value>> {
        let url = format!(
            "{}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true",
            self.url
        );
        Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
