//! The resource and instrumentation scope a record was sent under, turned into
//! strings once per resource or scope rather than once per record.

use crate::attributes::{StringPairs, service_name};
use crate::otlp::common::v1::InstrumentationScope;
use crate::otlp::resource::v1::Resource;

/// A resource, ready to be repeated on each of its records' rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceContext {
    pub attributes: StringPairs,
    pub service_name: String,
    pub schema_url: String,
}

impl ResourceContext {
    pub fn new(resource: Option<&Resource>, schema_url: &str) -> Self {
        let attributes = resource
            .map(|r| StringPairs::from_key_values(&r.attributes))
            .unwrap_or_default();
        Self {
            service_name: service_name(&attributes).to_owned(),
            attributes,
            schema_url: schema_url.to_owned(),
        }
    }
}

/// An instrumentation scope, ready to be repeated on each of its records' rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScopeContext {
    pub name: String,
    pub version: String,
    pub attributes: StringPairs,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

impl ScopeContext {
    pub fn new(scope: Option<&InstrumentationScope>, schema_url: &str) -> Self {
        let Some(scope) = scope else {
            return Self {
                schema_url: schema_url.to_owned(),
                ..Self::default()
            };
        };
        Self {
            name: scope.name.clone(),
            version: scope.version.clone(),
            attributes: StringPairs::from_key_values(&scope.attributes),
            dropped_attributes_count: scope.dropped_attributes_count,
            schema_url: schema_url.to_owned(),
        }
    }
}
