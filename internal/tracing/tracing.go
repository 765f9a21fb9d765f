// Package tracing sets up OpenTelemetry traces for the framework's
// commands and carries trace context in NATS message headers, so that one
// trace follows a job across the foreman, its workers and their peers, and
// a Work from its submission through its contractor to its job.
//
// Traces are off unless asked for: by an endpoint (-otlp on every
// command) or by the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none turn them off. The other OTEL_* variables
// apply as the SDK reads them: OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf,
// the default, or grpc), OTEL_TRACES_SAMPLER and its argument,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, the exporters' headers and
// timeouts.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of the framework's spans.
const Name = "github.com/fourinone-go/fourinone"

// Tracer is the framework's tracer, from the global provider (a no-op
// one unless Start set one).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Enabled reports whether traces are asked for, by endpoint (a command's
// -otlp) or the environment.
func Enabled(endpoint string) bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || os.Getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Start exports the spans of this process over OTLP, if Enabled: to
// endpoint if set (http://host:port or https://... for OTLP/HTTP,
// grpc://host:port for OTLP/gRPC without TLS), else where the environment
// says (an http URL with no path gets /v1/traces, as the OTLP base URL
// of OTEL_EXPORTER_OTLP_ENDPOINT does). service names the process unless
// OTEL_SERVICE_NAME does. The
// returned func flushes and stops the export; call it before exiting.
func Start(ctx context.Context, service, endpoint string) (stop func(context.Context) error, err error) {
	if !Enabled(endpoint) {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := exporter(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service), semconv.ProcessPID(os.Getpid())))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

func exporter(ctx context.Context, endpoint string) (sdktrace.SpanExporter, error) {
	if endpoint == "" {
		proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if proto == "" {
			proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		if proto == "grpc" {
			return otlptracegrpc.New(ctx)
		}
		return otlptracehttp.New(ctx)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("-otlp %q: want http://host:port, https://host:port or grpc://host:port", endpoint)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces" // a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is
		}
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	case "grpc":
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(u.Host), otlptracegrpc.WithInsecure())
	}
	return nil, errors.New("-otlp " + endpoint + ": want an http, https or grpc URL")
}

// maxHeader bounds the trace headers taken from a message: more is not
// a trace context.
const maxHeader = 1024

// header is a NATS message's header as a propagation carrier.
type header nats.Header

func (h header) Get(key string) string {
	if v := h[key]; len(v) > 0 && len(v[0]) <= maxHeader {
		return v[0]
	}
	return ""
}
func (h header) Set(key, value string) { h[key] = []string{value} }
func (h header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Inject returns a header carrying the trace context of ctx, or nil if
// ctx is in no sampled span (the common case: nothing is sent).
func Inject(ctx context.Context) nats.Header {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return nil
	}
	h := nats.Header{}
	otel.GetTextMapPropagator().Inject(ctx, header(h))
	if len(h) == 0 {
		return nil
	}
	return h
}

// InjectInto adds the trace context of ctx to m's header, if ctx is in a
// sampled span.
func InjectInto(ctx context.Context, m *nats.Msg) {
	if h := Inject(ctx); h != nil {
		if m.Header == nil {
			m.Header = nats.Header{}
		}
		for k, v := range h {
			m.Header[k] = v
		}
	}
}

// Extract returns ctx with the remote trace context h carries, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, header(h))
}

// Traced reports whether ctx is in a sampled span, local or remote: only
// then does the framework start spans of its own under it.
func Traced(ctx context.Context) bool { return trace.SpanContextFromContext(ctx).IsSampled() }
