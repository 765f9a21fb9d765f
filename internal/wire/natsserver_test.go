package wire

import (
	"net"
	"strings"
	"testing"
	"time"
)

// ServerConfig.Sync reaches JetStream: after every write, every interval,
// or JetStream's default of 2 minutes.
func TestServerSync(t *testing.T) {
	tests := []struct {
		name     string
		sync     time.Duration
		always   bool
		interval time.Duration
	}{
		{"default", 0, false, 2 * time.Minute},
		{"always", SyncAlways, true, 2 * time.Minute},
		{"every second", time.Second, false, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := StartServer(ServerConfig{JetStream: true, StoreDir: t.TempDir(), Sync: tt.sync})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
			c := ns.JetStreamConfig()
			if c == nil || c.SyncAlways != tt.always || (!tt.always && c.SyncInterval != tt.interval) {
				t.Fatalf("JetStream config %+v, want always %v, interval %v", c, tt.always, tt.interval)
			}
		})
	}
}

// A port in use fails StartServer with the reason, at once, not after the
// wait for readiness (a minute for a server of a cluster).
func TestServerPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free.Close() // the cluster's port: free, so that the client port is what fails
	for _, cluster := range []bool{false, true} {
		cfg := ServerConfig{Listen: ln.Addr().String()}
		if cluster {
			cfg.Name, cfg.Cluster = "p1", free.Addr().String()
		}
		ns, err := StartServer(cfg)
		if err == nil {
			ns.Shutdown()
			t.Fatalf("cluster %v: a server started on %s, which is in use", cluster, cfg.Listen)
		}
		if !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("cluster %v: %v, want the port in use named", cluster, err)
		}
	}
}
