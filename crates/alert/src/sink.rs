//! The HTTP end of the data path: one POST of one JSON body to one receiver.
//!
//! Only `http://` URLs: the client is built without TLS (see
//! [`AlertingConfig::validate`](crate::AlertingConfig::validate)). Each
//! request is bounded by `alerting.timeout`; a non-2xx answer's body is kept,
//! truncated, for the log.

use std::error::Error as _;

use reqwest::header::CONTENT_TYPE;

use crate::error::AlertError;
use crate::groups::SinkKind;

/// The Alertmanager v2 endpoint receivers are posted to.
pub const ALERTMANAGER_PATH: &str = "/api/v2/alerts";
/// Bytes of a refusal's body kept for the log.
const BODY_LIMIT: usize = 512;

/// One configured receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    pub kind: SinkKind,
    /// The URL as configured: the `url` label of the metrics.
    pub url: String,
    /// Where requests go.
    pub endpoint: String,
}

impl Sink {
    /// An Alertmanager at base URL `url` (a URL already ending in
    /// `/api/v2/alerts` is taken as it is).
    pub fn alertmanager(url: &str) -> Self {
        let base = url.trim_end_matches('/');
        let endpoint = if base.ends_with(ALERTMANAGER_PATH) {
            base.to_owned()
        } else {
            format!("{base}{ALERTMANAGER_PATH}")
        };
        Self {
            kind: SinkKind::Alertmanager,
            url: url.to_owned(),
            endpoint,
        }
    }

    pub fn webhook(url: &str) -> Self {
        Self {
            kind: SinkKind::Webhook,
            url: url.to_owned(),
            endpoint: url.to_owned(),
        }
    }

    /// Posts `body` (JSON); `Ok` on any 2xx answer.
    pub async fn post(&self, client: &reqwest::Client, body: Vec<u8>) -> Result<(), AlertError> {
        let response = client
            .post(&self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| AlertError::Unreachable {
                url: self.endpoint.clone(),
                message: chain(&e),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let mut body = response.text().await.unwrap_or_default();
        if body.len() > BODY_LIMIT {
            let mut end = BODY_LIMIT;
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
        }
        Err(AlertError::Status {
            url: self.endpoint.clone(),
            status: status.as_u16(),
            body: body.trim().to_owned(),
        })
    }
}

/// An error and its sources on one line: reqwest's own message rarely says
/// more than "error sending request".
fn chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alertmanager_endpoints_are_derived_from_the_base_url() {
        let cases = [
            (
                "http://127.0.0.1:9093",
                "http://127.0.0.1:9093/api/v2/alerts",
            ),
            ("http://am:9093/", "http://am:9093/api/v2/alerts"),
            ("http://am/prefix", "http://am/prefix/api/v2/alerts"),
            (
                "http://am:9093/api/v2/alerts",
                "http://am:9093/api/v2/alerts",
            ),
        ];
        for (url, endpoint) in cases {
            assert_eq!(Sink::alertmanager(url).endpoint, endpoint, "{url}");
        }
        assert_eq!(Sink::webhook("http://relay/x").endpoint, "http://relay/x");
    }
}
