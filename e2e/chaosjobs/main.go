// Command chaosjobs is the job-center client the network tests run on a
// simulated host (the test process has no link to those hosts): it
// submits -n durable word-count Works, Work i counting FILE i mod the
// number of FILEs, prints "submitted N", waits for each, and prints one
// line per Work:
//
//	ID <TAB> FILE <TAB> STATUS <TAB> ATTEMPTS <TAB> CONTRACTOR <TAB> SHA256 <TAB> LAST ERROR
//
// SHA256 is that of the counts as the wordcount command prints them.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/security"
	"go.uber.org/zap"
)

func main() {
	park := flag.String("park", "nats://127.0.0.1:4222", "park server URL")
	n := flag.Int("n", 10, "Works to submit")
	partSize := flag.Int64("part-size", 32<<10, "bytes of text per task")
	within := flag.Duration("within", 5*time.Minute, "how long to wait for them all")
	var sec security.Config
	sec.ClientFlags(flag.CommandLine)
	flag.Parse()
	if err := run(*park, sec, *n, *partSize, *within, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "chaosjobs:", err)
		os.Exit(1)
	}
}

func run(park string, sec security.Config, n int, partSize int64, within time.Duration, files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("no files to count")
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	member, err := sec.MemberID("", security.RoleForeman)
	if err != nil {
		return err
	}
	nc, err := wire.Connect(park, wire.ConnOptions{Security: sec, Name: "chaosjobs", Member: member})
	if err != nil {
		return err
	}
	defer nc.Close()
	c, err := jobcenter.New(ctx, nc)
	if err != nil {
		return err
	}
	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	c.SetLogger(log)
	for i := range n {
		in, err := wordcount.WorkInput(files[i%len(files):i%len(files)+1], partSize, false)
		if err != nil {
			return err
		}
		w := jobcenter.Work{Type: wordcount.Type, ID: fmt.Sprintf("w%03d", i), Durable: true, Input: in}
		if _, err := c.Submit(ctx, w); err != nil {
			return fmt.Errorf("submit %s: %w", w.ID, err)
		}
	}
	fmt.Println("submitted", n)
	for i := range n {
		id := fmt.Sprintf("w%03d", i)
		out, err := c.Wait(ctx, id)
		if err != nil {
			return fmt.Errorf("wait %s: %w", id, err)
		}
		counts, _ := out.Counts(wordcount.KeyCounts)
		var b bytes.Buffer
		if err := wordcount.Write(&b, counts, 0); err != nil {
			return err
		}
		info, err := c.Status(ctx, id)
		if err != nil {
			return fmt.Errorf("status %s: %w", id, err)
		}
		fmt.Printf("%s\t%s\t%s\t%d\t%s\t%x\t%q\n", id, files[i%len(files)], info.Status, info.Attempts, info.Contractor, sha256.Sum256(b.Bytes()), info.LastError())
	}
	return nil
}
