//! OTLP protobuf field numbers that code reading the wire format by hand
//! names (`wire.rs` validates with them, `processors/on_wire.rs` edits with
//! them), from the pinned protos in `proto/`.

/// `Export*ServiceRequest`: its resource levels.
pub const REQUEST_RESOURCES: u32 = 1;

/// `ResourceSpans` / `ResourceLogs` / `ResourceMetrics`.
pub mod resource_level {
    pub const RESOURCE: u32 = 1;
    pub const SCOPES: u32 = 2;
    pub const SCHEMA_URL: u32 = 3;
}

/// `ScopeSpans` / `ScopeLogs` / `ScopeMetrics`.
pub mod scope_level {
    pub const SCOPE: u32 = 1;
    pub const ITEMS: u32 = 2;
    pub const SCHEMA_URL: u32 = 3;
}

pub mod key_value {
    pub const KEY: u32 = 1;
    pub const VALUE: u32 = 2;
}

pub mod any_value {
    pub const STRING: u32 = 1;
    pub const ARRAY: u32 = 5;
    pub const KEY_VALUE_LIST: u32 = 6;
}

pub mod span {
    pub const NAME: u32 = 5;
    pub const ATTRIBUTES: u32 = 9;
    pub const EVENTS: u32 = 11;
    pub const LINKS: u32 = 13;
    pub const STATUS: u32 = 15;
}

pub mod span_event {
    pub const NAME: u32 = 2;
    pub const ATTRIBUTES: u32 = 3;
}

pub mod span_link {
    pub const ATTRIBUTES: u32 = 4;
}

pub mod status {
    pub const MESSAGE: u32 = 2;
}

pub mod log_record {
    pub const BODY: u32 = 5;
    pub const ATTRIBUTES: u32 = 6;
    pub const EVENT_NAME: u32 = 12;
}

/// `Metric`: its data, one of these; each holds its points in field 1.
pub mod metric {
    pub const GAUGE: u32 = 5;
    pub const SUM: u32 = 7;
    pub const HISTOGRAM: u32 = 9;
    pub const EXPONENTIAL_HISTOGRAM: u32 = 10;
    pub const SUMMARY: u32 = 11;
    pub const DATA_POINTS: u32 = 1;
}

/// `NumberDataPoint` (gauge and sum points); summary points keep their
/// attributes in the same field and have no exemplars.
pub mod number_point {
    pub const EXEMPLARS: u32 = 5;
    pub const ATTRIBUTES: u32 = 7;
}

pub mod histogram_point {
    pub const EXEMPLARS: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
}

pub mod exponential_histogram_point {
    pub const ATTRIBUTES: u32 = 1;
    pub const EXEMPLARS: u32 = 11;
}

pub mod exemplar {
    pub const FILTERED_ATTRIBUTES: u32 = 7;
}
