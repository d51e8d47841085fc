"""Sends telemetry with the official OpenTelemetry Python SDK and its OTLP
exporters, for tests/it/interop.rs.

    client.py --endpoint URL --protocol grpc|http --compression gzip|none
              --signal traces|logs|bomb|invalid-ids --count N [--timeout S]

Prints one JSON line per export: {"result": "SUCCESS" | "FAILURE", "items": N}.
Exits 0 when every export succeeded.
"""

import argparse
import json
import logging
import sys

from opentelemetry.sdk.resources import Resource


def bomb(args):
    """One Export call whose gzip body inflates to --count MiB of zeros;
    prints the status code it got."""
    import grpc

    channel = grpc.insecure_channel(args.endpoint.removeprefix("http://"), options=[("grpc.max_send_message_length", -1)])
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
    try:
        export(b"\0" * (args.count << 20), compression=grpc.Compression.Gzip, timeout=args.timeout)
        print(json.dumps({"result": "OK"}), flush=True)
    except grpc.RpcError as e:
        print(json.dumps({"result": e.code().name, "message": e.details()}), flush=True)


def invalid_ids(args):
    """3 good spans and 4 with invalid ids, as OTLP/gRPC (--protocol grpc)
    or OTLP/JSON (--protocol http); prints what the server answered."""
    good = [("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")] * 3
    bad = [
        ("5b8efff798038103d269b633813fc6", "eee19b7ec3c1b174"),  # a 15-byte trace id
        ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b1"),  # a 7-byte span id
        ("00000000000000000000000000000000", "eee19b7ec3c1b174"),  # all zeros
        ("5b8efff798038103d269b633813fc60c", "0000000000000000"),
    ]
    spans = good + bad
    if args.protocol == "grpc":
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )
        from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

        request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
            Span(trace_id=bytes.fromhex(t), span_id=bytes.fromhex(s), name=f"span {n}") for n, (t, s) in enumerate(spans)
        ])])])
        channel = grpc.insecure_channel(args.endpoint.removeprefix("http://"))
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=ExportTraceServiceRequest.SerializeToString,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        reply = export(request, timeout=args.timeout)
        rejected, message = reply.partial_success.rejected_spans, reply.partial_success.error_message
    else:
        import urllib.request

        body = {"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": t, "spanId": s, "name": f"span {n}"} for n, (t, s) in enumerate(spans)
        ]}]}]}
        request = urllib.request.Request(
            args.endpoint + "/v1/traces",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        reply = json.loads(urllib.request.urlopen(request, timeout=args.timeout).read())
        partial = reply.get("partialSuccess", {})
        rejected, message = int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")
    print(json.dumps({"result": "SUCCESS", "rejected": rejected, "message": message}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--compression", choices=["gzip", "none"], default="none")
    parser.add_argument("--signal", choices=["traces", "logs", "bomb", "invalid-ids"], default="traces")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--retry-log", action="store_true", help="show the exporter's retry warnings")
    args = parser.parse_args()
    if args.retry_log:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.signal == "bomb":
        return bomb(args)
    if args.signal == "invalid-ids":
        return invalid_ids(args)
    resource = Resource.create({"service.name": "interop-python"})
    ok = send_traces(args, resource) if args.signal == "traces" else send_logs(args, resource)
    sys.exit(0 if ok else 1)


def compression(args):
    if args.protocol == "grpc":
        from grpc import Compression

        return Compression.Gzip if args.compression == "gzip" else Compression.NoCompression
    from opentelemetry.exporter.otlp.proto.http import Compression

    return Compression.Gzip if args.compression == "gzip" else Compression.NoCompression


def send_traces(args, resource):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SimpleSpanProcessor

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=args.endpoint, insecure=True, compression=compression(args), timeout=args.timeout)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=args.endpoint + "/v1/traces", compression=compression(args), timeout=args.timeout)
    results = []

    class Recording(SpanExporter):
        def export(self, spans):
            result = exporter.export(spans)
            results.append(result.name)
            print(json.dumps({"result": result.name, "items": len(spans)}), flush=True)
            return result

        def shutdown(self):
            exporter.shutdown()

        def force_flush(self, timeout_millis=30000):
            return True

    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(Recording()))
    tracer = provider.get_tracer("interop")
    for n in range(args.count):
        with tracer.start_as_current_span(f"span {n}") as span:
            span.set_attribute("n", n)
    provider.shutdown()
    return all(r == "SUCCESS" for r in results) and len(results) == args.count


def send_logs(args, resource):
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import LogExporter, SimpleLogRecordProcessor

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=args.endpoint, insecure=True, compression=compression(args), timeout=args.timeout)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=args.endpoint + "/v1/logs", compression=compression(args), timeout=args.timeout)
    results = []

    class Recording(LogExporter):
        def export(self, batch):
            result = exporter.export(batch)
            results.append(result.name)
            print(json.dumps({"result": result.name, "items": len(batch)}), flush=True)
            return result

        def shutdown(self):
            exporter.shutdown()

        def force_flush(self, timeout_millis=30000):
            return True

    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(Recording()))
    logger = logging.getLogger("interop")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=provider))
    logger.setLevel(logging.INFO)
    for n in range(args.count):
        logger.info("log line %d", n)
    provider.shutdown()
    return all(r == "SUCCESS" for r in results) and len(results) == args.count


if __name__ == "__main__":
    main()
