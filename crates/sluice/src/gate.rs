//! `sluice gate`: the deploy gate for CI/CD pipelines, asked of a running
//! Sluice's API.

use std::process::ExitCode;

use anyhow::Context;

/// Asks `api` whether `service` may deploy; prints the decision.
pub fn gate(api: &str, service: &str, tenant: &str) -> ExitCode {
    match ask(api, service, tenant) {
        Ok((freeze, reasons)) => {
            if freeze {
                println!("{service}: frozen");
                for reason in reasons {
                    println!("  - {reason}");
                }
                ExitCode::from(1)
            } else {
                println!("{service}: may deploy");
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("sluice gate: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn ask(api: &str, service: &str, tenant: &str) -> anyhow::Result<(bool, Vec<String>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let url = format!("{}/api/v1/gate", api.trim_end_matches('/'));
        let response = reqwest::Client::new()
            .get(&url)
            .query(&[("service", service)])
            .header("x-scope-orgid", tenant)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .with_context(|| format!("{url} answered {status} without JSON"))?;
        anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
        let freeze = body["freeze"]
            .as_bool()
            .with_context(|| format!("{url} answered without a freeze decision: {body}"))?;
        let reasons = body["reasons"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok((freeze, reasons))
    })
}
