package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/security"
)

const credsUsage = `usage:
  parkserver creds init -dir DIR
      make an operator, the account and the park server's credential in DIR
  parkserver creds user -dir DIR -role admin|foreman|workman -name NAME [-out FILE] [-park-domain D]...
      make a credential for member NAME (its workman or foreman ID) in a role
      (written to FILE, default NAME.creds in the working directory); with
      -park-domain, it may write the park's coordination nodes of those
      domains only (lock:NAME for lock NAME, elect:GROUP for an election)
  parkserver creds tls -dir DIR [-hosts 127.0.0.1,host.example]
      make a development CA (ca.pem) and a certificate it signs for the hosts
      (cert.pem, key.pem), for servers and clients alike
  parkserver creds cluster -dir DIR
      make the secret the servers of a cluster require of each other's routes
      (DIR/cluster.secret): give each -cluster-secret-file with a copy of it`

// creds runs the creds subcommands and returns the exit code.
func creds(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, credsUsage)
		return 2
	}
	fs := flag.NewFlagSet("parkserver creds "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", "", "auth directory")
	role := fs.String("role", "", "user: admin, foreman or workman")
	name := fs.String("name", "", "user: the member's name (its -id)")
	out := fs.String("out", "", "user: the file to write (default NAME.creds)")
	var domains []string
	fs.Func("park-domain", "user: a coordination domain it may write (repeat for more; default: all)", func(d string) error {
		subj, err := park.DomainSubject(d)
		if err != nil {
			return err
		}
		domains = append(domains, subj)
		return nil
	})
	hosts := fs.String("hosts", "127.0.0.1,localhost", "tls: the names and addresses the certificate is for, comma-separated")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, credsUsage)
		return 2
	}
	switch args[0] {
	case "init":
		if err := security.Init(*dir); err != nil {
			fmt.Fprintln(os.Stderr, "parkserver creds init:", err)
			return 1
		}
		fmt.Printf("auth directory %s: give the park server -auth %s; keep %s and %s secret\n",
			*dir, *dir, filepath.Join(*dir, security.AccountKeyFile), filepath.Join(*dir, security.OperatorKeyFile))
	case "user":
		b, err := security.NewUser(*dir, *role, *name, security.ParkWrites(domains...))
		if err != nil {
			fmt.Fprintln(os.Stderr, "parkserver creds user:", err)
			return 2
		}
		path := *out
		if path == "" {
			path = *name + ".creds"
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "parkserver creds user:", err)
			return 1
		}
		fmt.Printf("%s credential for %s written to %s\n", *role, *name, path)
	case "tls":
		files, err := security.DevCertificates(*dir, strings.Split(*hosts, ",")...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "parkserver creds tls:", err)
			return 1
		}
		fmt.Printf("-tls-ca %s -tls-cert %s -tls-key %s\n", files.CA, files.Cert, files.Key)
	case "cluster":
		path, err := security.NewClusterSecret(*dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "parkserver creds cluster:", err)
			return 1
		}
		fmt.Printf("-cluster-secret-file %s\n", path)
	default:
		fmt.Fprintln(os.Stderr, credsUsage)
		return 2
	}
	return 0
}
