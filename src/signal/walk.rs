//! Walking every place an OTLP request carries data, for processors that
//! read or change it: resource, scope, span, span event, link, log record
//! and data point attributes, and the free texts (span and event names,
//! status messages, log bodies).

use crate::proto::common::v1::any_value::Value;
use crate::proto::common::v1::{AnyValue, KeyValue};
use crate::proto::metrics::v1::metric::Data;
use crate::signal::{Logs, Metrics, Traces};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Resource,
    Scope,
    Span,
    SpanEvent,
    SpanLink,
    LogRecord,
    DataPoint,
}

impl Place {
    /// The places that belong to one telemetry item (not its resource or scope).
    pub fn is_item(self) -> bool {
        !matches!(self, Place::Resource | Place::Scope)
    }
}

/// The value of attribute `key`, if present and set.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

/// The value of attribute `key` when it is a string.
pub fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute(attributes, key)? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

pub trait Visitor {
    fn attributes(&mut self, place: Place, attributes: &mut Vec<KeyValue>);
    /// Free text: span, event and log event names, status messages.
    fn text(&mut self, _place: Place, _text: &mut String) {}
    /// A log record's body.
    fn body(&mut self, _body: &mut AnyValue) {}
}

pub trait Walk {
    fn walk(&mut self, visitor: &mut impl Visitor);
}

impl Walk for Traces {
    fn walk(&mut self, v: &mut impl Visitor) {
        for rs in &mut self.resource_spans {
            if let Some(r) = &mut rs.resource {
                v.attributes(Place::Resource, &mut r.attributes);
            }
            for ss in &mut rs.scope_spans {
                if let Some(s) = &mut ss.scope {
                    v.attributes(Place::Scope, &mut s.attributes);
                }
                for span in &mut ss.spans {
                    v.attributes(Place::Span, &mut span.attributes);
                    v.text(Place::Span, &mut span.name);
                    if let Some(status) = &mut span.status {
                        v.text(Place::Span, &mut status.message);
                    }
                    for event in &mut span.events {
                        v.attributes(Place::SpanEvent, &mut event.attributes);
                        v.text(Place::SpanEvent, &mut event.name);
                    }
                    for link in &mut span.links {
                        v.attributes(Place::SpanLink, &mut link.attributes);
                    }
                }
            }
        }
    }
}

impl Walk for Logs {
    fn walk(&mut self, v: &mut impl Visitor) {
        for rl in &mut self.resource_logs {
            if let Some(r) = &mut rl.resource {
                v.attributes(Place::Resource, &mut r.attributes);
            }
            for sl in &mut rl.scope_logs {
                if let Some(s) = &mut sl.scope {
                    v.attributes(Place::Scope, &mut s.attributes);
                }
                for record in &mut sl.log_records {
                    v.attributes(Place::LogRecord, &mut record.attributes);
                    v.text(Place::LogRecord, &mut record.event_name);
                    if let Some(body) = &mut record.body {
                        v.body(body);
                    }
                }
            }
        }
    }
}

impl Walk for Metrics {
    fn walk(&mut self, v: &mut impl Visitor) {
        for rm in &mut self.resource_metrics {
            if let Some(r) = &mut rm.resource {
                v.attributes(Place::Resource, &mut r.attributes);
            }
            for sm in &mut rm.scope_metrics {
                if let Some(s) = &mut sm.scope {
                    v.attributes(Place::Scope, &mut s.attributes);
                }
                for metric in &mut sm.metrics {
                    visit_points(metric.data.as_mut(), v);
                }
            }
        }
    }
}

fn visit_points(data: Option<&mut Data>, v: &mut impl Visitor) {
    macro_rules! points {
        ($points:expr) => {
            for p in $points {
                v.attributes(Place::DataPoint, &mut p.attributes);
                for e in &mut p.exemplars {
                    v.attributes(Place::DataPoint, &mut e.filtered_attributes);
                }
            }
        };
    }
    match data {
        Some(Data::Gauge(g)) => points!(&mut g.data_points),
        Some(Data::Sum(s)) => points!(&mut s.data_points),
        Some(Data::Histogram(h)) => points!(&mut h.data_points),
        Some(Data::ExponentialHistogram(h)) => points!(&mut h.data_points),
        Some(Data::Summary(s)) => {
            for p in &mut s.data_points {
                v.attributes(Place::DataPoint, &mut p.attributes);
            }
        }
        None => {}
    }
}
