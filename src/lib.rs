//! ignis-agent: an OpenTelemetry sidecar that receives OTLP, processes it and
//! delivers it to OTLP destinations. See ARCHITECTURE.md for the map.
#![forbid(unsafe_code)]

pub mod proto;
