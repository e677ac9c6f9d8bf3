//! OTLP log requests kept as the protobuf bytes they came in.
//!
//! A receiver turns a protobuf `ExportLogsServiceRequest` into [`WireLogs`]:
//! it checks the body as `prost` would, reading each log record as it checks
//! it ([`protowire::CheckedFields`]), validates each record
//! ([`validate::check_log`]) and notes where each valid record lies and the
//! few fields a shard reads as it arrives ([`LogLayout`]). The routing stage
//! splits that index over the shards by resource, all sharing the one body;
//! each shard reads its records in place ([`LogView`]) into its rows. No
//! record becomes a message of owned strings on the way: decoding them with
//! `prost`, and freeing what it allocated on another core, was about half of
//! the daemon's CPU at full load of logs.

use arrow::array::StringBuilder;
use bytes::Bytes;
use prost::Message;

use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::otlp::resource::v1::Resource;
use crate::protowire::{self, CheckedFields, WireError, occurrences, otlp as schema};
use crate::traces::wire::Text;
use crate::validate::{self, Rejected};
use crate::wire::{At, Indexed, RequestSchemas, WireContexts, decode_checked, index_each, nesting};

/// The messages of a log request.
static SCHEMAS: RequestSchemas = RequestSchemas {
    request: &schema::EXPORT_LOGS_REQUEST,
    resource: &schema::RESOURCE_LOGS,
    scope: &schema::SCOPE_LOGS,
};

/// The `body` field of a log record.
const BODY_FIELD: u32 = 5;
/// Its `attributes` field.
const ATTRIBUTES_FIELD: u32 = 6;

/// A valid log record of the request: its `ScopeLogs`, its bytes, and where
/// its fields lie in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordAt {
    scope: u32,
    record: At,
    layout: LogLayout,
}

/// The valid log records of a protobuf `ExportLogsServiceRequest`, located
/// in its body, with their resources and scopes.
#[derive(Debug, Clone)]
pub struct WireLogs {
    body: Bytes,
    /// Each `ResourceLogs` and `ScopeLogs` message.
    contexts: WireContexts,
    records: Vec<RecordAt>,
    rejected: Rejected,
}

impl PartialEq for WireLogs {
    fn eq(&self, other: &Self) -> bool {
        self.to_request() == other.to_request()
    }
}

/// One log record of a [`WireLogs`], with the indices of its resource and
/// scope.
#[derive(Debug, Clone, Copy)]
pub struct WireLog<'a> {
    pub resource: usize,
    pub scope: usize,
    pub record: LogView<'a>,
}

impl WireLogs {
    /// Checks `body` and indexes its valid log records; the invalid ones are
    /// left out and counted in [`rejected`](Self::rejected). Fails, like
    /// `prost`, when the body is not a valid `ExportLogsServiceRequest`.
    pub fn index(body: Bytes) -> Result<Self, WireError> {
        const TOO_LARGE: &str = "a log request must be under 4 GiB";
        let indexed = index_each(&body, &SCHEMAS, TOO_LARGE, |scope, record, depth, kept| {
            let view = LogView::checked(record, depth)?;
            Ok(validate::check_log(&view).map(|()| {
                kept.push(RecordAt {
                    scope,
                    record: At::of(&body, record),
                    layout: view.layout(),
                })
            }))
        })?;
        Ok(Self {
            body,
            contexts: indexed.contexts,
            records: indexed.records,
            rejected: indexed.rejected,
        })
    }

    /// Encodes `request` and indexes it.
    pub fn from_request(request: &ExportLogsServiceRequest) -> Self {
        Self::index(Bytes::from(request.encode_to_vec()))
            .expect("prost encodes valid messages under 4 GiB")
    }

    /// The request body, as received (invalid records included).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// What indexing left out.
    pub fn rejected(&self) -> &Rejected {
        &self.rejected
    }

    /// The log records kept.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The resources and scopes of the request.
    pub fn contexts(&self) -> &WireContexts {
        &self.contexts
    }

    /// The kept log records, in request order.
    pub fn records(&self) -> impl Iterator<Item = WireLog<'_>> {
        self.records.iter().map(|at| WireLog {
            resource: self.contexts.resource_of(at.scope as usize),
            scope: at.scope as usize,
            record: at.layout.view(at.record.slice(&self.body)),
        })
    }

    /// Splits the log records into `parts` shares by `part_of(resource)`,
    /// their resource as `prost` would decode it (each resource decoded
    /// once, and only when there are parts to choose from); every share
    /// keeps the whole body (shared, not copied) and the empty ones are
    /// left out. Returns `(part, share)` pairs in part order.
    pub fn partition(
        self,
        parts: usize,
        part_of: impl Fn(Option<&Resource>) -> usize,
    ) -> Vec<(usize, WireLogs)> {
        let shares = self.contexts.split_by_resource(
            &self.body,
            self.records,
            |at| at.scope,
            parts,
            part_of,
        );
        shares
            .into_iter()
            .map(|(part, records)| {
                let share = Self {
                    body: self.body.clone(),
                    contexts: self.contexts.clone(),
                    rejected: Rejected::accepting(records.len()),
                    records,
                };
                (part, share)
            })
            .collect()
    }

    /// The kept log records as a message, grouped under their resources and
    /// scopes as they came (for OTLP/JSON and for tests).
    pub fn to_request(&self) -> ExportLogsServiceRequest {
        let records = self.records.iter().map(|at| {
            let record: LogRecord = decode_checked(at.record.slice(&self.body));
            (at.scope, record)
        });
        ExportLogsServiceRequest {
            resource_logs: self.contexts.rebuild::<Logs>(&self.body, records),
        }
    }
}

nesting!(
    Logs,
    ResourceLogs,
    scope_logs,
    ScopeLogs,
    log_records,
    LogRecord
);

impl Indexed for WireLogs {
    fn body(&self) -> &Bytes {
        &self.body
    }

    fn contexts(&self) -> &WireContexts {
        &self.contexts
    }
}

/// A log record read in place from its protobuf bytes (which must have been
/// checked).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogView<'a> {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: Text<'a>,
    pub flags: u32,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub event_name: Text<'a>,
    pub dropped_attributes_count: u32,
    /// The last `body` field, and how many there are (`prost` merges them).
    body: Option<&'a [u8]>,
    bodies: u32,
    bytes: &'a [u8],
    /// The stretch of `bytes` that holds the attributes (empty when there
    /// are none), so that they are looked for only there.
    attributes: At,
}

/// A [`LogView`] with the places of its fields in the record's bytes
/// instead of the fields' bytes: what the receivers' index keeps of a
/// record, so that the shard taking it reads it ([`LogLayout::view`])
/// without parsing it a second time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogLayout {
    time_unix_nano: u64,
    observed_time_unix_nano: u64,
    severity_number: i32,
    severity_text: At,
    flags: u32,
    trace_id: At,
    span_id: At,
    event_name: At,
    dropped_attributes_count: u32,
    body: Option<At>,
    bodies: u32,
    attributes: At,
}

impl LogLayout {
    /// The record laid out so in `bytes`, the bytes it was taken from.
    pub fn view<'a>(&self, bytes: &'a [u8]) -> LogView<'a> {
        LogView {
            time_unix_nano: self.time_unix_nano,
            observed_time_unix_nano: self.observed_time_unix_nano,
            severity_number: self.severity_number,
            severity_text: Text(self.severity_text.slice(bytes)),
            flags: self.flags,
            trace_id: self.trace_id.slice(bytes),
            span_id: self.span_id.slice(bytes),
            event_name: Text(self.event_name.slice(bytes)),
            dropped_attributes_count: self.dropped_attributes_count,
            body: self.body.map(|at| at.slice(bytes)),
            bodies: self.bodies,
            bytes,
            attributes: self.attributes,
        }
    }
}

impl<'a> LogView<'a> {
    /// Checks `bytes` as a log record nested `depth` messages deep, as
    /// [`protowire::check`] does, and reads it in the same pass.
    pub fn checked(bytes: &'a [u8], depth: u32) -> Result<Self, WireError> {
        let mut record = Self {
            bytes,
            ..Self::default()
        };
        let mut fields = CheckedFields::new(bytes, &schema::LOG_RECORD, depth);
        while let Some(field) = fields.next()? {
            record.note(field.tag, field.value, field.start, field.end);
            field.check_nested()?;
        }
        Ok(record)
    }

    /// Takes field `tag`, lying at `start..end` of the record's bytes, as
    /// `prost` would: the last scalar wins, the attributes are noted by the
    /// stretch they lie in, the bodies are counted (they merge).
    #[inline(always)]
    fn note(&mut self, tag: u32, value: protowire::Value<'a>, start: usize, end: usize) {
        match tag {
            1 => self.time_unix_nano = value.int(),
            2 => self.severity_number = value.int() as i32,
            3 => self.severity_text = Text(value.bytes()),
            BODY_FIELD => {
                self.body = Some(value.bytes());
                self.bodies += 1;
            }
            ATTRIBUTES_FIELD => self.attributes.cover(start, end),
            7 => self.dropped_attributes_count = value.int() as u32,
            8 => self.flags = value.int() as u32,
            9 => self.trace_id = value.bytes(),
            10 => self.span_id = value.bytes(),
            11 => self.observed_time_unix_nano = value.int(),
            12 => self.event_name = Text(value.bytes()),
            _ => {}
        }
    }

    /// Where this view's fields lie in [`bytes`](Self::bytes).
    pub fn layout(&self) -> LogLayout {
        let at = |part: &[u8]| At::of(self.bytes, part);
        LogLayout {
            time_unix_nano: self.time_unix_nano,
            observed_time_unix_nano: self.observed_time_unix_nano,
            severity_number: self.severity_number,
            severity_text: at(self.severity_text.bytes()),
            flags: self.flags,
            trace_id: at(self.trace_id),
            span_id: at(self.span_id),
            event_name: at(self.event_name.bytes()),
            dropped_attributes_count: self.dropped_attributes_count,
            body: self.body.map(at),
            bodies: self.bodies,
            attributes: self.attributes,
        }
    }

    /// The event time: `time_unix_nano`, or when that is unset, the time the
    /// SDK observed the record (as the ClickHouse exporter does).
    pub fn event_time(&self) -> u64 {
        if self.time_unix_nano != 0 {
            self.time_unix_nano
        } else {
            self.observed_time_unix_nano
        }
    }

    /// The record's protobuf bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The attributes: `KeyValue` messages.
    pub fn attributes(&self) -> impl Iterator<Item = &'a [u8]> + Clone + use<'a> {
        occurrences(self.attributes.slice(self.bytes), ATTRIBUTES_FIELD)
    }

    /// Writes the body's string form, as
    /// [`write_value`](crate::attributes::write_value) writes the decoded
    /// body: read in place when it is one scalar.
    pub fn write_body(&self, out: &mut StringBuilder) {
        crate::attributes::write_wire_any_value(
            self.bytes,
            BODY_FIELD,
            self.bodies,
            self.body,
            out,
        );
    }
}

#[cfg(test)]
mod tests;
