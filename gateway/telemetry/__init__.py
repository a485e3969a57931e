"""Metrics, traces and logs.

- metrics.py     every Prometheus metric (DESIGN.md names and labels); `exported_metrics()`
- exposition.py  GET /metrics: this process's registry, or all workers' merged
- multiprocess.py  `serve --workers N`: PROMETHEUS_MULTIPROC_DIR and dead-worker bookkeeping
- tracing.py     OpenTelemetry spans (GenAI conventions), W3C traceparent in and out, OTLP
- genai.py       span attribute values read from requests and responses
- logging.py     JSON lines on stdout; keys masked as a last guard
- lifecycle.py   set-up at start, flush at stop, lifecycle log lines

Operators turn things on with the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS) for
traces, PROMETHEUS_MULTIPROC_DIR to choose where workers keep their samples (else a fresh
temporary directory), GATEWAY_TRACE_CONTENT=true to put prompts and completions on spans.

`x-gateway-overhead-ms` (time in the gateway minus upstream waits) is a response header of
non-streamed answers. A stream's headers are sent before its overhead is known, so streams
report it only in `gateway_overhead_seconds` and the request's log line (`overhead_ms`).
"""
