//! Request bodies to OTLP messages: content type and encoding negotiation,
//! bounded decompression, protobuf and OTLP/JSON decoding.

use std::io::Read;

use bytes::Bytes;
use prost::Message;
use sluice_model::Signal;
use sluice_model::logs::wire::WireLogs;
use sluice_model::metrics::wire::WireMetrics;
use sluice_model::otlp::collector::logs::v1::ExportLogsServiceRequest;
use sluice_model::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use sluice_model::otlp::collector::trace::v1::ExportTraceServiceRequest;
use sluice_model::traces::wire::WireTraces;
use sluice_model::units::ByteSize;

use crate::{ExportRequest, ReceiverError};

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Protobuf,
    Json,
}

impl BodyEncoding {
    /// From an HTTP `Content-Type` (parameters such as `charset` ignored).
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, ReceiverError> {
        let raw = content_type.unwrap_or("");
        let essence = raw.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/protobuf")
        {
            Ok(Self::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Ok(Self::Json)
        } else {
            Err(ReceiverError::UnsupportedMediaType {
                content_type: raw.to_owned(),
            })
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// A body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn from_header(value: Option<&str>) -> Result<Self, ReceiverError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::None),
            Some(v) if v.eq_ignore_ascii_case("identity") => Ok(Self::None),
            Some(v) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => {
                Ok(Self::Gzip)
            }
            Some(v) if v.eq_ignore_ascii_case("zstd") => Ok(Self::Zstd),
            Some(v) => Err(ReceiverError::UnsupportedEncoding {
                encoding: v.to_owned(),
            }),
        }
    }
}

/// Decompresses `body`, refusing as soon as the output would pass `limit`: a
/// decompression bomb costs at most `limit` bytes of memory.
pub fn decompress(
    body: Bytes,
    compression: Compression,
    limit: ByteSize,
) -> Result<Bytes, ReceiverError> {
    let limit_bytes = limit.as_u64();
    let too_large = || ReceiverError::TooLarge {
        what: "decompressed body",
        limit,
    };
    let malformed = |kind: &str, e: std::io::Error| ReceiverError::Malformed {
        message: format!("invalid {kind} body: {e}"),
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit.as_usize()));
    match compression {
        Compression::None => {
            if body.len() as u64 > limit_bytes {
                return Err(too_large());
            }
            return Ok(body);
        }
        Compression::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(&body[..]);
            decoder
                .take(limit_bytes + 1)
                .read_to_end(&mut out)
                .map_err(|e| malformed("gzip", e))?;
        }
        Compression::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::new(&body[..]).map_err(|e| malformed("zstd", e))?;
            // A window larger than the largest acceptable output is never needed,
            // and bounding it bounds the decoder's own memory. Streaming encoders
            // declare their level's window whatever the content size (8 MiB at
            // level 19), so 8 MiB, the window RFC 8878 asks decoders to support,
            // is always allowed.
            let window_log = (64 - limit_bytes.leading_zeros()).clamp(23, 27);
            decoder
                .window_log_max(window_log)
                .map_err(|e| malformed("zstd", e))?;
            decoder
                .take(limit_bytes + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    // A frame whose window exceeds the bound holds more than the limit.
                    if e.to_string().contains("too much memory") {
                        too_large()
                    } else {
                        malformed("zstd", e)
                    }
                })?;
        }
    }
    if out.len() as u64 > limit_bytes {
        return Err(too_large());
    }
    Ok(Bytes::from(out))
}

fn decode_one<T>(body: &[u8], encoding: BodyEncoding) -> Result<T, ReceiverError>
where
    T: Message + Default + serde::de::DeserializeOwned,
{
    match encoding {
        BodyEncoding::Protobuf => T::decode(body).map_err(invalid_protobuf),
        BodyEncoding::Json => serde_json::from_slice(body).map_err(|e| ReceiverError::Malformed {
            message: format!("invalid OTLP/JSON: {e}"),
        }),
    }
}

fn invalid_protobuf(error: impl std::fmt::Display) -> ReceiverError {
    ReceiverError::Malformed {
        message: format!("invalid protobuf: {error}"),
    }
}

/// Decodes an export request of `signal` from a decompressed body.
///
/// Protobuf bodies are not decoded into messages but checked and indexed in
/// place ([`WireTraces`], [`WireMetrics`], [`WireLogs`]), sharing `body`.
pub fn decode_export(
    signal: Signal,
    body: &Bytes,
    encoding: BodyEncoding,
) -> Result<ExportRequest, ReceiverError> {
    Ok(match signal {
        Signal::Traces if encoding == BodyEncoding::Protobuf => {
            ExportRequest::WireTraces(WireTraces::index(body.clone()).map_err(invalid_protobuf)?)
        }
        Signal::Traces => {
            ExportRequest::Traces(decode_one::<ExportTraceServiceRequest>(body, encoding)?)
        }
        Signal::Metrics if encoding == BodyEncoding::Protobuf => {
            ExportRequest::WireMetrics(WireMetrics::index(body.clone()).map_err(invalid_protobuf)?)
        }
        Signal::Metrics => {
            ExportRequest::Metrics(decode_one::<ExportMetricsServiceRequest>(body, encoding)?)
        }
        Signal::Logs if encoding == BodyEncoding::Protobuf => {
            ExportRequest::WireLogs(WireLogs::index(body.clone()).map_err(invalid_protobuf)?)
        }
        Signal::Logs => {
            ExportRequest::Logs(decode_one::<ExportLogsServiceRequest>(body, encoding)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn negotiates_content_type_and_encoding() {
        use BodyEncoding::*;
        assert_eq!(
            BodyEncoding::from_content_type(Some("application/x-protobuf")).ok(),
            Some(Protobuf)
        );
        assert_eq!(
            BodyEncoding::from_content_type(Some("application/json; charset=utf-8")).ok(),
            Some(Json)
        );
        assert!(BodyEncoding::from_content_type(Some("text/plain")).is_err());
        assert!(BodyEncoding::from_content_type(None).is_err());
        assert_eq!(Compression::from_header(None).ok(), Some(Compression::None));
        assert_eq!(
            Compression::from_header(Some("GZIP")).ok(),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_header(Some("zstd")).ok(),
            Some(Compression::Zstd)
        );
        assert!(matches!(
            Compression::from_header(Some("br")),
            Err(ReceiverError::UnsupportedEncoding { .. })
        ));
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).expect("in memory");
        let gz = Bytes::from(gz.finish().expect("in memory"));
        let zst = Bytes::from(zstd::encode_all(&zeros[..], 19).expect("in memory"));
        for (compression, body) in [(Compression::Gzip, gz), (Compression::Zstd, zst)] {
            assert!(body.len() < 64 << 10, "a bomb is small: {}", body.len());
            let err = decompress(body.clone(), compression, ByteSize::mib(1)).err();
            assert!(
                matches!(err, Some(ReceiverError::TooLarge { .. })),
                "{compression:?}: {err:?}"
            );
            let ok = decompress(body, compression, ByteSize::mib(8)).expect("fits");
            assert_eq!(ok.len(), 8 << 20);
        }
    }

    #[test]
    fn small_zstd_bodies_pass_a_small_limit_whatever_the_level() {
        let body = vec![7u8; 600];
        for level in [1, 3, 19] {
            let mut encoder =
                zstd::stream::write::Encoder::new(Vec::new(), level).expect("encoder");
            encoder.write_all(&body).expect("in memory");
            let compressed = Bytes::from(encoder.finish().expect("in memory"));
            let out = decompress(compressed, Compression::Zstd, ByteSize::kib(64)).expect("fits");
            assert_eq!(out.len(), 600, "level {level}");
        }
    }

    #[test]
    fn corrupt_compressed_bodies_are_malformed() {
        for compression in [Compression::Gzip, Compression::Zstd] {
            let err = decompress(
                Bytes::from_static(b"not compressed at all"),
                compression,
                ByteSize::mib(1),
            )
            .err();
            assert!(
                matches!(err, Some(ReceiverError::Malformed { .. })),
                "{compression:?}: {err:?}"
            );
        }
    }

    #[test]
    fn decodes_otlp_json_with_hex_ids_and_integer_enums() {
        let json = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
            "scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
            "name":"GET /","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
            "status":{"code":2},"unknownField":{"x":1}}]}]}]}"#;
        let ExportRequest::Traces(request) = decode_export(
            Signal::Traces,
            &Bytes::from_static(json),
            BodyEncoding::Json,
        )
        .expect("valid") else {
            panic!("traces expected");
        };
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            sluice_model::hex::encode(&span.trace_id),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        for signal in [Signal::Logs, Signal::Traces] {
            let body = Bytes::from_static(b"\xff\xff\xff");
            let err = decode_export(signal, &body, BodyEncoding::Protobuf).err();
            assert!(
                matches!(&err, Some(ReceiverError::Malformed { message }) if message.contains("invalid protobuf")),
                "{err:?}"
            );
        }
        let err = decode_export(
            Signal::Metrics,
            &Bytes::from_static(b"{\"resourceMetrics\": ["),
            BodyEncoding::Json,
        )
        .err();
        assert!(
            matches!(&err, Some(ReceiverError::Malformed { message }) if message.contains("invalid OTLP/JSON")),
            "{err:?}"
        );
    }
}
