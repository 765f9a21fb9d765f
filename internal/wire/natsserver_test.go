package wire

import (
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
