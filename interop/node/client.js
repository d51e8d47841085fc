// Sends spans with the official OpenTelemetry JS SDK and its OTLP/HTTP JSON
// exporter, for tests/it/interop.rs.
//
//   node client.js ENDPOINT COUNT
//
// Prints one JSON line per export: {"result": "SUCCESS" | "FAILURE", "items": N}.
"use strict";

const { TracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http");
const { resourceFromAttributes } = require("@opentelemetry/resources");

const [endpoint, count] = [process.argv[2], Number(process.argv[3] || 5)];
const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces` });
const results = [];
const recording = {
  export(spans, done) {
    exporter.export(spans, (result) => {
      const name = result.code === 0 ? "SUCCESS" : "FAILURE";
      results.push(name);
      console.log(JSON.stringify({ result: name, items: spans.length, error: result.error ? String(result.error) : undefined }));
      done(result);
    });
  },
  shutdown: () => exporter.shutdown(),
  forceFlush: () => exporter.forceFlush(),
};
const provider = new TracerProvider({
  resource: resourceFromAttributes({ "service.name": "interop-node" }),
  spanProcessors: [new SimpleSpanProcessor({ exporter: recording })],
});
const tracer = provider.getTracer("interop");
for (let n = 0; n < count; n++) {
  const span = tracer.startSpan(`span ${n}`, { attributes: { n } });
  span.end();
}
provider
  .forceFlush()
  .then(() => provider.shutdown())
  .catch((error) => console.error(String(error)))
  .finally(() => {
    process.exit(results.length === count && results.every((r) => r === "SUCCESS") ? 0 : 1);
  });
