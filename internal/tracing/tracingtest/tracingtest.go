// Package tracingtest records the spans a test makes.
package tracingtest

import (
	"slices"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Record makes every span of this process, until the test ends, go to
// the returned recorder, with trace context carried as in production.
func Record(t testing.TB) *tracetest.SpanRecorder {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })
	return sr
}

// Paths returns each span as the labels of its ancestors and its own,
// root first, joined by " > ", sorted; a span whose parent is not among
// spans starts its path.
func Paths(spans []sdktrace.ReadOnlySpan, label func(sdktrace.ReadOnlySpan) string) []string {
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID().String()] = s
	}
	var paths []string
	for _, s := range spans {
		path := label(s)
		for p := s.Parent(); p.IsValid(); {
			parent, ok := byID[p.SpanID().String()]
			if !ok {
				break
			}
			path = label(parent) + " > " + path
			p = parent.Parent()
		}
		paths = append(paths, path)
	}
	slices.Sort(paths)
	return paths
}
