//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics` or `/v1/logs` with a protobuf
//! or JSON body, plain, gzip or zstd, over a pool of HTTP/1.1 connections
//! (one per request in flight). Plain `http://` only.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER};

use super::{Attempt, Outcome, compress, failed, rejected_json, rejected_proto};
use crate::error::LoadgenError;
use crate::generate::Request;
use crate::options::{Compression, Plan, Protocol, Signal};

/// The connection pool shared by the workers of a run.
pub fn pool(plan: &Plan) -> Result<reqwest::Client, LoadgenError> {
    reqwest::Client::builder()
        .timeout(plan.timeout)
        .connect_timeout(plan.timeout)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(plan.concurrency)
        .user_agent(concat!("sluice-loadgen/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LoadgenError::Client {
            protocol: "http",
            reason: e.to_string(),
        })
}

/// One worker's OTLP/HTTP exporter.
#[derive(Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    url: String,
    signal: Signal,
    json: bool,
    compression: Compression,
    tenant: Option<HeaderValue>,
}

impl HttpClient {
    pub fn new(plan: &Plan, client: reqwest::Client) -> Self {
        Self {
            client,
            url: plan.endpoint.clone(),
            signal: plan.signal,
            json: plan.protocol == Protocol::HttpJson,
            compression: plan.compression,
            // Validated by `Options::plan`.
            tenant: plan
                .tenant
                .as_deref()
                .and_then(|t| HeaderValue::from_str(t).ok()),
        }
    }

    pub async fn send(&mut self, request: &Request) -> Attempt {
        let encoded = if self.json {
            request.encode_json().map(Bytes::from)
        } else {
            Ok(request.body.clone())
        };
        let body = match encoded.and_then(|body| compress(body, self.compression)) {
            Ok(body) => body,
            Err(e) => {
                return Attempt {
                    outcome: Outcome::Failed {
                        kind: "encode",
                        message: e.to_string(),
                    },
                    wire_bytes: 0,
                    latency: Duration::ZERO,
                };
            }
        };
        let wire_bytes = body.len() as u64;
        let content_type = if self.json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let mut builder = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, content_type)
            .body(body);
        match self.compression {
            Compression::None => {}
            Compression::Gzip => builder = builder.header(CONTENT_ENCODING, "gzip"),
            Compression::Zstd => builder = builder.header(CONTENT_ENCODING, "zstd"),
        }
        if let Some(tenant) = &self.tenant {
            builder = builder.header(super::TENANT_HEADER, tenant.clone());
        }
        let start = Instant::now();
        let outcome = match builder.send().await {
            Err(e) => failed(&e),
            Ok(response) => self.answer(response).await,
        };
        Attempt {
            outcome,
            wire_bytes,
            latency: start.elapsed(),
        }
    }

    /// Reads the whole answer (so the connection is reused) and classifies it.
    async fn answer(&self, response: reqwest::Response) -> Outcome {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return failed(&e),
        };
        if !status.is_success() {
            return Outcome::Refused {
                status: status.as_str().to_owned(),
                message: super::rpc_status::error_message(&body, json),
                retryable: is_retryable(status),
                retry_after,
            };
        }
        let rejected = if json {
            rejected_json(&body).map_err(|e| e.to_string())
        } else {
            rejected_proto(self.signal, &body).map_err(|e| e.to_string())
        };
        match rejected {
            Ok(rejected) => Outcome::Acknowledged { rejected },
            Err(e) => Outcome::Failed {
                kind: "bad_response",
                message: format!("undecodable export response: {e}"),
            },
        }
    }
}

/// The statuses the OTLP specification lets a client retry.
fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}
