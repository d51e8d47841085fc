//! Keeping or dropping whole items (spans, log records, metrics), for the
//! filter and the samplers; scopes and resources left empty are removed.

use crate::proto::common::v1::KeyValue;
use crate::proto::logs::v1::LogRecord;
use crate::proto::metrics::v1::Metric;
use crate::proto::trace::v1::Span;
use crate::signal::{Logs, Metrics, Traces};

/// One item, with its resource's attributes.
pub enum Item<'a> {
    Span(&'a [KeyValue], &'a mut Span),
    Log(&'a [KeyValue], &'a mut LogRecord),
    Metric(&'a [KeyValue], &'a mut Metric),
}

pub trait Retain {
    /// Keeps the items `keep` says yes to; returns the counted items dropped.
    fn retain_items(&mut self, keep: &mut dyn FnMut(Item<'_>) -> bool) -> usize;
}

macro_rules! retain {
    ($self:ident, $keep:ident, $resources:ident, $scopes:ident, $items:ident, $variant:ident, $weight:expr) => {{
        let mut dropped = 0;
        for resource in &mut $self.$resources {
            let attributes: &[KeyValue] = resource.resource.as_ref().map_or(&[], |r| &r.attributes);
            for scope in &mut resource.$scopes {
                scope.$items.retain_mut(|item| {
                    let kept = $keep(Item::$variant(attributes, item));
                    // Weighed after: what `keep` removed itself, it counted.
                    if !kept {
                        dropped += $weight(&*item);
                    }
                    kept
                });
            }
            resource.$scopes.retain(|s| !s.$items.is_empty());
        }
        $self.$resources.retain(|r| !r.$scopes.is_empty());
        dropped
    }};
}

impl Retain for Traces {
    fn retain_items(&mut self, keep: &mut dyn FnMut(Item<'_>) -> bool) -> usize {
        retain!(
            self,
            keep,
            resource_spans,
            scope_spans,
            spans,
            Span,
            |_: &Span| 1
        )
    }
}

impl Retain for Logs {
    fn retain_items(&mut self, keep: &mut dyn FnMut(Item<'_>) -> bool) -> usize {
        retain!(
            self,
            keep,
            resource_logs,
            scope_logs,
            log_records,
            Log,
            |_: &LogRecord| 1
        )
    }
}

impl Retain for Metrics {
    fn retain_items(&mut self, keep: &mut dyn FnMut(Item<'_>) -> bool) -> usize {
        use crate::signal::Signal;
        retain!(
            self,
            keep,
            resource_metrics,
            scope_metrics,
            metrics,
            Metric,
            |m: &Metric| { <Metrics as Signal>::weight(m) }
        )
    }
}
