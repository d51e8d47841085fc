"""An OTLP destination built on Python's grpcio (or http.server) and the
official opentelemetry-proto and googleapis-common-protos messages, whose
answers are scripted, for tests/it/interop.rs.

    destination.py --protocol grpc|http --answers A,B,C

Each request takes the next answer; the last one repeats. Answers:
  ok                         success
  partial:N                  success with partial_success rejecting N items
  unavailable                UNAVAILABLE / 503, no hint
  unavailable-details:S      UNAVAILABLE + RetryInfo(S s) in grpc-status-details-bin (Go, the Collector)
  unavailable-trailer:S      UNAVAILABLE + RetryInfo(S s) in google.rpc.retryinfo-bin (Python, Google)
  exhausted                  RESOURCE_EXHAUSTED, no hint (permanent)
  exhausted-details:S        RESOURCE_EXHAUSTED + RetryInfo in grpc-status-details-bin
  exhausted-trailer:S        RESOURCE_EXHAUSTED + RetryInfo in google.rpc.retryinfo-bin
  http:CODE[:RETRY_AFTER]    HTTP only: that status, with Retry-After seconds if given

Prints one JSON line per event on stdout: first {"listening": port}, then
{"signal", "items", "answer", "t"} per request (t: monotonic seconds).
"""

import argparse
import gzip
import json
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf.any_pb2 import Any
from google.protobuf.duration_pb2 import Duration
from google.rpc import status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

lock = threading.Lock()


class Script:
    def __init__(self, answers):
        self.answers = answers
        self.next = 0

    def take(self):
        with lock:
            answer = self.answers[min(self.next, len(self.answers) - 1)]
            self.next += 1
            return answer


def emit(**event):
    with lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def count(signal, request):
    if signal == "traces":
        return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if signal == "logs":
        return sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
    total = 0
    for r in request.resource_metrics:
        for s in r.scope_metrics:
            for m in s.metrics:
                kind = m.WhichOneof("data")
                total += len(getattr(m, kind).data_points) if kind else 0
    return total


def retry_info(seconds):
    return RetryInfo(retry_delay=Duration(seconds=int(seconds)))


SIGNALS = {
    "traces": (trace_service_pb2, "ExportTraceServiceRequest", "ExportTraceServiceResponse", "ExportTracePartialSuccess", "rejected_spans"),
    "metrics": (metrics_service_pb2, "ExportMetricsServiceRequest", "ExportMetricsServiceResponse", "ExportMetricsPartialSuccess", "rejected_data_points"),
    "logs": (logs_service_pb2, "ExportLogsServiceRequest", "ExportLogsServiceResponse", "ExportLogsPartialSuccess", "rejected_log_records"),
}


def success(signal, answer):
    module, _, response, partial, field = SIGNALS[signal]
    reply = getattr(module, response)()
    if answer.startswith("partial:"):
        rejected = int(answer.split(":")[1])
        reply.partial_success.CopyFrom(
            getattr(module, partial)(**{field: rejected, "error_message": "rejected by the test destination"})
        )
    return reply


def grpc_answer(signal, request, context, script):
    answer = script.take()
    emit(signal=signal, items=count(signal, request), answer=answer, t=time.monotonic())
    name, _, arg = answer.partition(":")
    if name in ("ok", "partial"):
        return success(signal, answer)
    code = {
        "unavailable": grpc.StatusCode.UNAVAILABLE,
        "unavailable-details": grpc.StatusCode.UNAVAILABLE,
        "unavailable-trailer": grpc.StatusCode.UNAVAILABLE,
        "exhausted": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "exhausted-details": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "exhausted-trailer": grpc.StatusCode.RESOURCE_EXHAUSTED,
    }[name]
    message = "scripted " + answer
    if name.endswith("-details"):
        detail = Any()
        detail.Pack(retry_info(arg))
        status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
    elif name.endswith("-trailer"):
        context.set_trailing_metadata((("google.rpc.retryinfo-bin", retry_info(arg).SerializeToString()),))
    context.abort(code, message)


def serve_grpc(script):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            return grpc_answer("traces", request, context, script)

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            return grpc_answer("metrics", request, context, script)

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request, context):
            return grpc_answer("logs", request, context, script)

    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    emit(listening=port)
    server.wait_for_termination()


def serve_http(script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            signal = self.path.rstrip("/").rsplit("/", 1)[-1]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            if signal not in SIGNALS:
                self.send_response(404)
                self.end_headers()
                return
            module, request_type = SIGNALS[signal][0], SIGNALS[signal][1]
            request = getattr(module, request_type)()
            request.ParseFromString(body)
            answer = script.take()
            emit(signal=signal, items=count(signal, request), answer=answer, t=time.monotonic())
            if answer.startswith("http:"):
                parts = answer.split(":")
                self.send_response(int(parts[1]))
                if len(parts) > 2:
                    self.send_header("Retry-After", parts[2])
                reply = status_pb2.Status(code=14, message="scripted " + answer).SerializeToString()
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                return
            reply = success(signal, answer).SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    emit(listening=server.server_address[1])
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--answers", default="ok")
    args = parser.parse_args()
    script = Script(args.answers.split(","))
    (serve_grpc if args.protocol == "grpc" else serve_http)(script)


if __name__ == "__main__":
    main()
