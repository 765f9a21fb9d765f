package parkserver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/security"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// waitView polls each park's ClusterView until ok holds of all of them
// (a cluster settles on its own time: there is no event to wait on).
func waitView(t *testing.T, parks []*parkserver.Server, what string, ok func(parkserver.ClusterView) bool) []parkserver.ClusterView {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		views := make([]parkserver.ClusterView, len(parks))
		all := true
		for i, p := range parks {
			views[i] = p.ClusterView(context.Background())
			all = all && ok(views[i])
		}
		if all {
			return views
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute on, not every server sees %s: %+v", what, views)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settled: a meta leader, a route to every other server, and every stream
// led and kept by the three, all current.
func settled(v parkserver.ClusterView) bool {
	others := slices.DeleteFunc([]string{"p1", "p2", "p3"}, func(n string) bool { return n == v.Name })
	if v.MetaLeader == "" || !slices.Equal(v.Routes, others) || len(v.Streams) == 0 || v.StreamsError != "" {
		return false
	}
	for _, s := range v.Streams {
		if s.Leader == "" || len(s.Replicas) != 3 {
			return false
		}
		for _, r := range s.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
	}
	return true
}

// TestClusterView: each server of three reports the same meta leader, its
// routes to the two others, and the park's streams, each with a leader
// and three current replicas.
func TestClusterView(t *testing.T) {
	parktest.NeedCluster(t)
	parks, _ := parktest.StartCluster(t, 3, parkserver.Config{})
	views := waitView(t, parks, "a settled cluster", settled)
	for _, v := range views {
		if v.MetaLeader != views[0].MetaLeader || v.Leader != (v.Name == v.MetaLeader) {
			t.Fatalf("the servers disagree on the meta leader: %+v", views)
		}
	}
	var names []string
	for _, s := range views[0].Streams {
		names = append(names, s.Name)
	}
	for _, want := range []string{"KV_" + registry.Bucket, registry.JobsStream} {
		if !slices.Contains(names, want) {
			t.Errorf("streams %v: %s missing", names, want)
		}
	}
	t.Logf("meta leader %s; streams %v", views[0].MetaLeader, names)
}

// TestClusterRoutesSecured: three servers with TLS and a secret on their
// routes form a cluster; a server without the secret, and one without
// TLS, are kept out; the secret is in no log line at any level.
func TestClusterRoutesSecured(t *testing.T) {
	parktest.NeedCluster(t)
	files, err := security.DevCertificates(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "r0ute-s3cret-of-the-cluster"
	core, logs := observer.New(zapcore.DebugLevel)
	parks, _ := parktest.StartCluster(t, 3, parkserver.Config{ClusterTLS: files, ClusterSecret: secret, Logger: zap.New(core)})
	waitView(t, parks, "a settled cluster", settled)

	route := []string{"nats-route://" + parks[0].ClusterAddr()}
	rogues := []struct {
		name    string
		cfg     wire.ServerConfig
		refusal string
	}{
		{"rogue-nosecret", wire.ServerConfig{ClusterTLS: files}, "authentication error"},
		{"rogue-wrongsecret", wire.ServerConfig{ClusterTLS: files, ClusterSecret: "not-the-cluster-secret"}, "authentication error"},
		{"rogue-notls", wire.ServerConfig{ClusterSecret: secret}, "TLS"},
	}
	all := logs.TakeAll() // each rogue's refusal is looked for in the lines since it started
	for _, r := range rogues {
		all = append(all, logs.TakeAll()...)
		rcore, rlogs := observer.New(zapcore.DebugLevel)
		cfg := r.cfg
		cfg.Name, cfg.Cluster, cfg.Routes, cfg.Logger = r.name, parktest.FreeAddr(t), route, zap.New(zapcore.NewTee(rcore, core))
		ns, err := wire.StartServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Wait for the refusal, on either side.
		deadline := time.Now().Add(30 * time.Second)
		for len(logs.FilterMessageSnippet(r.refusal).All())+len(rlogs.FilterMessageSnippet(r.refusal).All()) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %q logged in 30 s: %v", r.name, r.refusal, messages(rlogs.All()))
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, p := range parks {
			if v := p.ClusterView(context.Background()); slices.Contains(v.Routes, r.name) {
				t.Errorf("%s: %s took a route from it: %v", r.name, v.Name, v.Routes)
			}
		}
		ns.Shutdown()
		ns.WaitForShutdown()
		t.Logf("%s kept out: %q", r.name, append(messages(logs.FilterMessageSnippet(r.refusal).All()), messages(rlogs.FilterMessageSnippet(r.refusal).All())...)[0])
	}
	for _, e := range append(all, logs.TakeAll()...) {
		if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, secret) {
			t.Fatalf("the secret is in a log line: %s", e.Message)
		}
	}
}

func messages(es []observer.LoggedEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Message)
	}
	return out
}
