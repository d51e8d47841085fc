"""Writes the fuzz targets' seed corpora (fuzz/seeds/<target>/) from real
requests: spans, logs and metrics made by the official OpenTelemetry Python
SDK and encoded by its OTLP exporter's own encoders. Run with the interop
virtualenv: target/interop-venv/bin/python fuzz/seeds.py
"""

import base64
import gzip
import hashlib
import json
import logging
import pathlib
import shutil

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

ROOT = pathlib.Path(__file__).parent / "seeds"
resource = Resource.create({"service.name": "checkout", "k8s.pod.name": "checkout-7d9f8", "user.email": "jane@example.com"})


def traces():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop", "1.2.3")
    with tracer.start_as_current_span("GET /cart", attributes={"http.route": "/cart", "user.email": "jane@example.com"}) as span:
        span.add_event("exception", {"exception.message": "card 4111 1111 1111 1111 declined"})
        with tracer.start_as_current_span("SELECT", attributes={"db.statement": "SELECT * FROM users WHERE ssn = '078-05-1120'", "n": 3, "ok": True, "ratio": 0.5, "tags": ["a", "b"]}) as child:
            child.set_status(Status(StatusCode.ERROR, "password=hunter2"))
    yield encode_spans(exporter.get_finished_spans())
    yield encode_spans(exporter.get_finished_spans()[:1])


def logs():
    exporter = InMemoryLogExporter()
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("seeds")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=provider))
    logger.warning("login for jane@example.com from 10.1.2.3 with token ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    logger.error("order %s failed", 42, extra={"order.id": 42, "card": "4111111111111111"})
    yield encode_logs(exporter.get_finished_logs())


def metrics():
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("shop")
    meter.create_counter("orders").add(3, {"region": "eu"})
    meter.create_histogram("latency", unit="ms").record(12.5, {"route": "/cart"})
    meter.create_up_down_counter("inflight").add(-1)
    yield encode_metrics(reader.get_metrics_data())


def otlp_json(message):
    """OTLP/JSON: protobuf's JSON mapping with ids in hex, not base64."""
    data = MessageToDict(message)

    def fix(node):
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    fix(value)
        elif isinstance(node, list):
            for item in node:
                fix(item)

    fix(data)
    return json.dumps(data).encode()


def write(target, data):
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    for pick, requests in ((0, traces()), (1, logs()), (2, metrics())):
        for request in requests:
            encoded = request.SerializeToString()
            write("wire_vs_prost", bytes([pick]) + encoded)
            write("on_wire_redaction", bytes([pick]) + encoded)
            write("otlp_json", bytes([pick]) + otlp_json(request))
            write("inflate", bytes([0]) + gzip.compress(encoded))
            write("inflate", bytes([1]) + encoded)
    repo = pathlib.Path(__file__).parent.parent
    for config in [repo / "config.yaml", repo / "src/config/default.yaml"]:
        write("config", config.read_bytes())


if __name__ == "__main__":
    main()
