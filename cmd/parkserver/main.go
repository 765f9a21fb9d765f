// Command parkserver runs a fourinone park server: an embedded NATS server
// with JetStream holding the registry of workmen and foremen.
//
//	parkserver [-listen 127.0.0.1:4222] [-store DIR] [-name N -cluster HOST:PORT -routes nats-route://A,nats-route://B [-replicas N]
//	           [-cluster-secret-file F] [-cluster-tls-cert F -cluster-tls-key F -cluster-tls-ca F]]
//	           [-token T | -auth DIR] [-tls-cert F -tls-key F [-tls-ca F -tls-verify]]
//	           [-lease 3s] [-retention 24h] [-sync always|INTERVAL] [-http ADDR [-http-token T] [-http-streams 256]]
//	parkserver creds init -dir DIR
//	parkserver creds user -dir DIR -role admin|foreman|workman -name NAME [-out FILE]
//	parkserver creds tls -dir DIR [-hosts 127.0.0.1,localhost]
//	parkserver creds cluster -dir DIR
//
// When ready it prints "park server ready at URL" on stdout. SIGINT or
// SIGTERM shuts it down cleanly. See docs/security.md for the credentials.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/security"
)

// clusterSecretEnv holds the cluster's secret when -cluster-secret-file is
// not given. It is read after the flags, never shown as a flag's default.
const clusterSecretEnv = "FOURINONE_CLUSTER_SECRET"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "creds" {
		os.Exit(creds(os.Args[2:]))
	}
	fs := flag.NewFlagSet("parkserver", flag.ContinueOnError)
	var cfg parkserver.Config
	fs.StringVar(&cfg.Listen, "listen", parkserver.DefaultListen, "NATS listen address (port 0: a free port)")
	fs.StringVar(&cfg.StoreDir, "store", "", "JetStream store directory (blank: a temporary one; then a restarted park cannot tell it restarted)")
	security.SecretFlag(fs, &cfg.Token, "token", security.TokenEnv, "access `token` required of every connection")
	fs.StringVar(&cfg.Name, "name", "", "server name (required with -cluster)")
	fs.StringVar(&cfg.Cluster, "cluster", "", "cluster host:port: form a cluster of park servers with -routes")
	routes := fs.String("routes", "", "the cluster's route URLs, comma-separated (nats-route://host:port,...)")
	secretFile := fs.String("cluster-secret-file", "", "file whose first line is the secret every route of the cluster must present (`parkserver creds cluster`; default $"+clusterSecretEnv+")")
	fs.StringVar(&cfg.ClusterTLS.Cert, "cluster-tls-cert", "", "PEM file of this server's certificate for its routes (TLS between park servers)")
	fs.StringVar(&cfg.ClusterTLS.Key, "cluster-tls-key", "", "PEM file of the key of -cluster-tls-cert")
	fs.StringVar(&cfg.ClusterTLS.CA, "cluster-tls-ca", "", "PEM file of the CA that signs every park server's route certificate")
	fs.IntVar(&cfg.Replicas, "replicas", 0, "copies of the registry and the job center (default: 3 in a cluster of 3 or more, else 1)")
	fs.StringVar(&cfg.AuthDir, "auth", "", "directory made by `parkserver creds init`: connections present per-role credentials of its account (not with -token)")
	sec := security.Config{}
	sec.TLSFlags(fs, "require client certificates signed by -tls-ca")
	fs.DurationVar(&cfg.Lease, "lease", 0, "registry lease: a member leaves this long after its last heartbeat (default 3s)")
	fs.DurationVar(&cfg.Retention, "retention", 0, "how long the job center keeps a finished Work and its result (default 24h)")
	fs.StringVar(&cfg.HTTP, "http", "", "dashboard address, e.g. :8080 (loopback) or 0.0.0.0:8080 (with -http-token) (blank: none)")
	security.SecretFlag(fs, &cfg.HTTPToken, "http-token", "FOURINONE_HTTP_TOKEN", "dashboard admin `token`, required off loopback")
	fs.Func("sync", "sync the store to disk: always (after every write) or every interval, e.g. 1s (default: every 2m)", func(v string) (err error) {
		cfg.Sync, err = parkserver.ParseSync(v)
		return err
	})
	fs.IntVar(&cfg.HTTPStreams, "http-streams", parkserver.DefaultHTTPStreams, "dashboards open at once (their event streams); one more gets 503")
	logFlags := cmdflag.LogFlags(fs, "info", "auto")
	traceFlag := cmdflag.TraceFlag(fs)
	cmdflag.Parse(fs, os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "parkserver: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	if err := cmdflag.CheckID(fs, "name"); err != nil {
		fmt.Fprintln(os.Stderr, "parkserver:", err)
		os.Exit(2)
	}
	log, err := logFlags.Logger()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parkserver:", err)
		os.Exit(2)
	}
	cfg.TLS = sec.TLS
	cfg.ClusterSecret = os.Getenv(clusterSecretEnv)
	if *secretFile != "" {
		if cfg.ClusterSecret, err = security.ReadSecret(*secretFile); err != nil {
			fmt.Fprintln(os.Stderr, "parkserver: -cluster-secret-file:", err)
			os.Exit(2)
		}
	}
	if *routes != "" {
		cfg.Routes = strings.Split(*routes, ",")
	}
	defer func() { _ = log.Sync() }()
	flushTraces, err := traceFlag.Start("parkserver", log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parkserver:", err)
		os.Exit(2)
	}
	defer flushTraces()
	cfg.Logger = log
	s, err := parkserver.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if cfg.StoreDir == "" {
		log.Warn("no -store: if this park restarts, it cannot tell, and new foremen may claim workers before their earlier holders claim them back")
	}
	fmt.Printf("park server ready at %s\n", s.ClientURL())
	if a := s.HTTPAddr(); a != nil {
		fmt.Printf("dashboard at http://%s/\n", a)
	}
	<-ctx.Done()
	if err := s.Shutdown(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
