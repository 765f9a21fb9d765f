// Command fourinone is the operator's command: it shows what a park's
// cluster is doing, acts on its jobs, and submits and follows the job
// center's Works.
//
//	fourinone [-park URL] [-token T | -creds FILE] [-o table|json] COMMAND [FLAGS] [ARGS]
//
// Commands (fourinone COMMAND -h lists a command's own flags):
//
//	status              the park, its members by role and type, capacity and busy slots, jobs;
//	                    in a cluster, each park server (answered, meta leader, routes) and
//	                    each stream (leader, replicas current, behind or offline)
//	workers [-type T]   the workmen: state, busy/capacity, claimed, tasks done, heartbeat
//	jobs [-running]     the jobs the park keeps (the last 1,000, a day at most), newest first
//	job ID              one job (an ID or a unique prefix of one), with its failure if it failed
//	watch [-every D] [-n N]
//	                    status and running jobs, refreshed every D (N times; 0: until interrupted)
//	cancel [-work] ID   cancel a running job (its foreman stops it), or with -work a Work
//	works [-type T] [-status S]
//	                    the job center's Works
//	work ID             one Work's record: status, attempts, errors, progress
//	submit -type T [-id ID] [-durable=false] [-max-attempts N] [-after D] [-part-size N] [FILE...]
//	                    submit a Work and print its ID; for -type wordcount the FILEs to count
//	wait [-top N] ID    wait for a Work and print its result ("count<TAB>word" lines for a
//	                    word count, the -top N first; the result's keys otherwise)
//	resubmit ID         run a failed or cancelled Work again
//
// While the park does not answer (restarting, or its cluster electing a
// leader), submit, wait and resubmit say so once on stderr and try again
// until interrupted.
//
// Exit status: 0 done, 1 failed (the park unreachable, a job not running,
// ...), 2 a usage error, 3 no such job or Work.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// Exit statuses.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitNotFound = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errNotFound and errNoWork mark an unknown job and Work.
var (
	errNotFound = errors.New("no such job")
	errNoWork   = errors.New("no such Work")
)

// usageError is a command line to refuse with exit status 2, in one line.
type usageError struct{ error }

// opts is what the commands' flags set.
type opts struct {
	typ, status   string
	running, work bool
	timeline      bool
	every         time.Duration
	n, top        int
	partSize      int64
	after         time.Duration
	submit        jobcenter.Work
}

// command is one of fourinone's commands.
type command struct {
	name, args, help string
	nargs            int // arguments it takes: 0, 1, or -1 for any number
	flags            func(fs *flag.FlagSet, o *opts)
	do               func(ctx context.Context, c *cli, o *opts, args []string) error
}

var commands = []command{
	{"status", "", "the park, its members by role and type, capacity and busy slots, jobs; a cluster's servers and streams", 0, nil,
		func(ctx context.Context, c *cli, _ *opts, _ []string) error { return c.status(ctx) }},
	{"workers", "", "the workmen: state, busy/capacity, claimed, tasks done, heartbeat", 0,
		func(fs *flag.FlagSet, o *opts) { fs.StringVar(&o.typ, "type", "", "only workmen of this type") },
		func(ctx context.Context, c *cli, o *opts, _ []string) error { return c.workers(ctx, o.typ) }},
	{"jobs", "", "the jobs the park keeps, newest first", 0,
		func(fs *flag.FlagSet, o *opts) { fs.BoolVar(&o.running, "running", false, "only running jobs") },
		func(ctx context.Context, c *cli, o *opts, _ []string) error { return c.jobs(ctx, o.running) }},
	{"job", "ID", "one job (an ID or a unique prefix of one)", 1,
		func(fs *flag.FlagSet, o *opts) {
			fs.BoolVar(&o.timeline, "timeline", false, "its task timeline: the slowest tasks, each worker's busy and idle time, the reruns")
		},
		func(ctx context.Context, c *cli, o *opts, args []string) error {
			if o.timeline {
				return c.timeline(ctx, args[0])
			}
			return c.job(ctx, args[0])
		}},
	{"watch", "", "status and running jobs, refreshed", 0,
		func(fs *flag.FlagSet, o *opts) {
			fs.DurationVar(&o.every, "every", time.Second, "refresh interval")
			fs.IntVar(&o.n, "n", 0, "refreshes before it ends (0: until interrupted)")
		},
		func(ctx context.Context, c *cli, o *opts, _ []string) error {
			if o.every <= 0 {
				return usageError{fmt.Errorf("watch: -every %v: want a positive interval", o.every)}
			}
			return c.watch(ctx, o.every, o.n)
		}},
	{"cancel", "ID", "cancel a running job, or a Work", 1,
		func(fs *flag.FlagSet, o *opts) { fs.BoolVar(&o.work, "work", false, "ID is a Work's, not a job's") },
		func(ctx context.Context, c *cli, o *opts, args []string) error {
			if o.work {
				return c.cancelWork(ctx, args[0])
			}
			return c.cancel(ctx, args[0])
		}},
	{"works", "", "the job center's Works, newest first", 0,
		func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.typ, "type", "", "only Works of this type")
			fs.StringVar(&o.status, "status", "", "only Works with this status (waiting, running, done, failed, cancelled)")
		},
		func(ctx context.Context, c *cli, o *opts, _ []string) error {
			return c.works(ctx, jobcenter.Filter{Type: o.typ, Status: jobcenter.Status(o.status)})
		}},
	{"work", "ID", "one Work's record: status, attempts, errors, progress", 1, nil,
		func(ctx context.Context, c *cli, _ *opts, args []string) error { return c.work(ctx, args[0]) }},
	{"submit", "[FILE...]", "submit a Work and print its ID", -1,
		func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.submit.Type, "type", wordcount.Type, "work type")
			fs.StringVar(&o.submit.ID, "id", "", "work id (blank: a UUID)")
			fs.BoolVar(&o.submit.Durable, "durable", true, "keep the Work in the park's store (it survives park restarts)")
			fs.IntVar(&o.submit.MaxAttempts, "max-attempts", jobcenter.DefaultMaxAttempts, "runs before the Work fails")
			fs.DurationVar(&o.after, "after", 0, "run no sooner than this from now")
			fs.Int64Var(&o.partSize, "part-size", wordcount.DefaultPartSize, "-type wordcount: bytes of text per task")
		},
		func(ctx context.Context, c *cli, o *opts, args []string) error { return c.submit(ctx, o, args) }},
	{"wait", "ID", "wait for a Work and print its result", 1,
		func(fs *flag.FlagSet, o *opts) {
			fs.IntVar(&o.top, "top", 0, "print only the N most frequent words of a word count (0: all)")
		},
		func(ctx context.Context, c *cli, o *opts, args []string) error { return c.wait(ctx, args[0], o.top) }},
	{"resubmit", "ID", "run a failed or cancelled Work again", 1, nil,
		func(ctx context.Context, c *cli, _ *opts, args []string) error { return c.resubmit(ctx, args[0]) }},
}

// retrying is the commands that ride out a park that does not answer.
var retrying = map[string]bool{"submit": true, "wait": true, "resubmit": true}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: fourinone [-park URL] [-token T | -creds FILE] [-o table|json] COMMAND [FLAGS] [ARGS]\ncommands (fourinone COMMAND -h for a command's flags):")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %-10s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "exit status: 0 done, 1 failed, 2 usage error, 3 no such job or Work\nflags:")
	fs.PrintDefaults()
}

// run runs one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fourinone", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	park := fs.String("park", "nats://127.0.0.1:4222", "park server URL")
	out := fs.String("o", "table", "output: table or json")
	var sec security.Config
	sec.ClientFlags(fs)
	logFlags := cmdflag.LogFlags(fs, "warn", "console")
	traceFlag := cmdflag.TraceFlag(fs)
	err := func() error {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			usage(stdout, fs)
			return err
		} else if err != nil {
			return usageError{err}
		}
		if fs.NArg() == 0 {
			return usageError{errors.New("no command (fourinone -h lists them)")}
		}
		if *out != "table" && *out != "json" {
			return usageError{fmt.Errorf("-o %q: want table or json", *out)}
		}
		i := slices.IndexFunc(commands, func(c command) bool { return c.name == fs.Arg(0) })
		if i < 0 {
			return usageError{fmt.Errorf("unknown command %q (fourinone -h lists them)", fs.Arg(0))}
		}
		cmd := commands[i]
		cfs := flag.NewFlagSet("fourinone "+cmd.name, flag.ContinueOnError)
		cfs.SetOutput(io.Discard)
		var o opts
		if cmd.flags != nil {
			cmd.flags(cfs, &o)
		}
		// Flags may come before or after the arguments (fourinone job ID
		// -timeline).
		var args []string
		for rest := fs.Args()[1:]; ; {
			if err := cfs.Parse(rest); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					fmt.Fprintf(stdout, "usage: fourinone %s [FLAGS] %s\n%s\n", cmd.name, cmd.args, cmd.help)
					cfs.SetOutput(stdout)
					cfs.PrintDefaults()
					return err
				}
				return usageError{fmt.Errorf("%s: %v", cmd.name, err)}
			}
			if cfs.NArg() == 0 {
				break
			}
			args, rest = append(args, cfs.Arg(0)), cfs.Args()[1:]
		}
		switch n := len(args); {
		case cmd.nargs == 0 && n > 0:
			return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.name, args)}
		case cmd.nargs == 1 && n != 1:
			return usageError{fmt.Errorf("%s wants one %s", cmd.name, cmd.args)}
		}
		log, err := logFlags.Logger()
		if err != nil {
			return usageError{err}
		}
		flushTraces, err := traceFlag.Start("fourinone", log)
		if err != nil {
			return usageError{err}
		}
		defer flushTraces()
		c := &cli{out: stdout, json: *out == "json", log: log}
		if err := c.connect(ctx, *park, sec, retrying[cmd.name]); err != nil {
			return err
		}
		defer c.nc.Close()
		return cmd.do(ctx, c, &o, args)
	}()
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "fourinone: %v\n", err)
		return exitUsage
	case errors.Is(err, errNotFound) || errors.Is(err, errNoWork):
		fmt.Fprintln(stderr, "fourinone:", err)
		return exitNotFound
	default:
		fmt.Fprintln(stderr, "fourinone:", err)
		return exitFailed
	}
}

type cli struct {
	out  io.Writer
	json bool
	log  *zap.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	reg  *registry.Registry
	url  string
}

// connect connects to the park; with forever, a connection that drops is
// made again until ctx ends (submit and wait ride out a park restart).
func (c *cli) connect(ctx context.Context, park string, sec security.Config, forever bool) error {
	if err := sec.Check(); err != nil {
		return err
	}
	member := ""
	if sec.Creds != "" {
		who, err := security.ReadIdentity(sec.Creds)
		if err != nil {
			return err
		}
		member = who.Name
	}
	url, err := sec.TakeURL(park)
	if err != nil {
		return err
	}
	reconnects := 10
	if forever {
		reconnects = -1
	}
	nc, err := wire.Connect(url, wire.ConnOptions{Security: sec, Name: "fourinone", Member: member, MaxReconnects: reconnects})
	if err != nil {
		return fmt.Errorf("the park at %s: %w", url, err)
	}
	c.nc, c.url = nc, url
	if c.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if c.reg, err = registry.Open(cctx, nc); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// read returns the registry and the jobs, within 10 s.
func (c *cli) read(ctx context.Context) (*registry.Snapshot, []*registry.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	snap, err := c.reg.Snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := registry.Jobs(ctx, c.js)
	if err != nil {
		return nil, nil, err
	}
	return snap, jobs, nil
}

// group is the members of one role and type.
type group struct {
	Role     string `json:"role"`
	Type     string `json:"type"`
	Members  int    `json:"members"`
	Capacity int    `json:"capacity"`
	Busy     int    `json:"busy"`
	Claimed  int    `json:"claimed"`
}

type statusView struct {
	Park     string  `json:"park"`
	Groups   []group `json:"members"`
	Running  int     `json:"jobs_running"`
	Finished int     `json:"jobs_finished"`
	// Cluster is the park's cluster; nil for a park of one server.
	Cluster      *clusterStatus `json:"cluster,omitempty"`
	ClusterError string         `json:"cluster_error,omitempty"`
}

func (c *cli) statusView(snap *registry.Snapshot, jobs []*registry.Job) statusView {
	v := statusView{Park: security.Redact(c.url)}
	at := map[[2]string]int{}
	for _, m := range snap.Members {
		k := [2]string{m.Role, m.Type}
		i, ok := at[k]
		if !ok {
			i = len(v.Groups)
			at[k] = i
			v.Groups = append(v.Groups, group{Role: m.Role, Type: m.Type})
		}
		g := &v.Groups[i]
		g.Members++
		if m.Role == registry.RoleWorkman {
			g.Capacity += m.Capacity
			g.Busy += m.Busy
			g.Claimed += snap.Claimed(m.ID)
		}
	}
	slices.SortFunc(v.Groups, func(a, b group) int {
		return strings.Compare(a.Role+"\x00"+a.Type, b.Role+"\x00"+b.Type)
	})
	for _, j := range jobs {
		if j.Final() {
			v.Finished++
		} else {
			v.Running++
		}
	}
	return v
}

func (c *cli) status(ctx context.Context) error {
	snap, jobs, err := c.read(ctx)
	if err != nil {
		return err
	}
	v := c.statusView(snap, jobs)
	if v.Cluster, err = c.cluster(ctx); err != nil {
		v.ClusterError = err.Error()
	}
	if c.json {
		return c.emit(v)
	}
	c.printStatus(v)
	if v.Cluster != nil {
		c.printCluster(v.Cluster)
	}
	if v.ClusterError != "" {
		fmt.Fprintf(c.out, "\ncluster: %s\n", v.ClusterError)
	}
	return nil
}

func (c *cli) printStatus(v statusView) {
	fmt.Fprintf(c.out, "park %s: %d jobs running, %d finished kept\n\n", v.Park, v.Running, v.Finished)
	tw := c.table("ROLE\tTYPE\tMEMBERS\tCAPACITY\tBUSY\tCLAIMED")
	for _, g := range v.Groups {
		if g.Role == registry.RoleWorkman {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", g.Role, g.Type, g.Members, g.Capacity, g.Busy, g.Claimed)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%d\t\t\t\n", g.Role, g.Type, g.Members)
		}
	}
	_ = tw.Flush()
}

func (c *cli) workers(ctx context.Context, typ string) error {
	snap, _, err := c.read(ctx)
	if err != nil {
		return err
	}
	ws := []registry.MemberView{}
	now := time.Now()
	for _, m := range snap.Workmen(typ) {
		ws = append(ws, snap.View(m, now))
	}
	slices.SortFunc(ws, func(a, b registry.MemberView) int { return strings.Compare(a.Type+"\x00"+a.ID, b.Type+"\x00"+b.ID) })
	if c.json {
		return c.emit(ws)
	}
	tw := c.table("ID\tTYPE\tSTATE\tBUSY/CAP\tCLAIMED\tDONE\tFAILED\tFOR\tHOST\tENDPOINT\tHEARTBEAT")
	for _, w := range ws {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%s\t%s\t%s %s\t%.1fs ago\n", w.ID, w.Type, w.State, w.Busy, w.Capacity,
			w.Claimed, w.Done, w.Failed, strings.Join(w.For, ","), hostPID(w.Host, w.PID), w.Endpoint.Mode, w.Endpoint.URL, w.LastSeen)
	}
	return tw.Flush()
}

func hostPID(host string, pid int) string {
	if pid == 0 {
		return host
	}
	return fmt.Sprintf("%s:%d", host, pid)
}

func (c *cli) jobs(ctx context.Context, running bool) error {
	_, jobs, err := c.read(ctx)
	if err != nil {
		return err
	}
	if running {
		jobs = slices.DeleteFunc(jobs, func(j *registry.Job) bool { return j.Final() })
	}
	if jobs == nil {
		jobs = []*registry.Job{}
	}
	if c.json {
		return c.emit(jobs)
	}
	c.printJobs(jobs)
	return nil
}

func (c *cli) printJobs(jobs []*registry.Job) {
	tw := c.table("ID\tNAME\tFOREMAN\tSTATE\tTASKS\tRATE\tETA\tTIME\tSTARTED")
	now := time.Now()
	for _, j := range jobs {
		took, eta := now.Sub(j.Started), ""
		if j.Final() {
			took = j.Finished.Sub(j.Started)
		} else if j.ETA > 0 {
			eta = seconds(j.ETA)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f/s\t%s\t%s\t%s\n", j.ID, j.Name, j.Foreman, j.State, tasks(j), j.Rate, eta,
			took.Round(time.Millisecond), j.Started.Local().Format(time.DateTime))
	}
	_ = tw.Flush()
}

// tasks is a job's "done/total" (the total, while it is not known, as
// the tasks split so far and a +).
func tasks(j *registry.Job) string {
	if j.Total > 0 {
		return fmt.Sprintf("%d/%d", j.Done, j.Total)
	}
	return fmt.Sprintf("%d/%d+", j.Done, j.Split)
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

// find returns the job with id, or the only one whose id starts with it.
func (c *cli) find(ctx context.Context, id string) (*registry.Job, error) {
	_, jobs, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	var found []*registry.Job
	for _, j := range jobs {
		if j.ID == id {
			return j, nil
		}
		if strings.HasPrefix(j.ID, id) {
			found = append(found, j)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %s", errNotFound, id)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%q is the start of %d jobs' IDs: give more of it", id, len(found))
}

func (c *cli) job(ctx context.Context, id string) error {
	j, err := c.find(ctx, id)
	if err != nil {
		return err
	}
	if c.json {
		return c.emit(j)
	}
	tw := c.table("")
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("id", j.ID)
	row("name", j.Name)
	row("foreman", fmt.Sprintf("%s (%s)", j.Foreman, hostPID(j.Host, j.PID)))
	row("state", j.State)
	row("started", j.Started.Local().Format(time.RFC3339))
	if j.Final() {
		row("finished", fmt.Sprintf("%s (took %s)", j.Finished.Local().Format(time.RFC3339), j.Finished.Sub(j.Started).Round(time.Millisecond)))
	} else {
		row("updated", fmt.Sprintf("%s ago", time.Since(j.Updated).Round(time.Millisecond)))
	}
	row("tasks", fmt.Sprintf("%s done, %d split, %d running, %d failed", tasks(j), j.Split, j.Running, j.Failed))
	row("retried / reassigned / backups", fmt.Sprintf("%d / %d / %d", j.Retried, j.Reassigned, j.Backups))
	row("workers", j.Workers)
	row("rate", fmt.Sprintf("%.1f tasks/s", j.Rate))
	if !j.Final() && j.ETA > 0 {
		row("eta", seconds(j.ETA))
	}
	row("bytes out / in", fmt.Sprintf("%d / %d", j.BytesOut, j.BytesIn))
	if j.Error != "" {
		row("error", j.Error)
	}
	return tw.Flush()
}

// timeline prints a job's timeline: its slowest tasks, each worker's
// busy and idle time and longest gap, and the reruns.
func (c *cli) timeline(ctx context.Context, id string) error {
	j, err := c.find(ctx, id)
	if err != nil {
		return err
	}
	tl, err := registry.ReadTimeline(ctx, c.js, j)
	if err != nil {
		return err
	}
	if c.json {
		return c.emit(tl)
	}
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	as := tl.Attempts
	fmt.Fprintf(c.out, "job %s (%s): %d attempts on %d workers", j.ID, j.Name, tl.Recorded, len(tl.Workers))
	if len(as) < tl.Recorded {
		fmt.Fprintf(c.out, ", %d of them here (the last, and a sample of the others)", len(as))
	}
	fmt.Fprintln(c.out)
	if len(as) == 0 {
		return nil
	}
	took := func(a registry.Attempt) int64 {
		if a.Finished == 0 { // running
			return max(time.Since(tl.Start).Microseconds()-a.Started, 0)
		}
		return a.Finished - a.Started
	}

	fmt.Fprintln(c.out, "\nslowest attempts:")
	slow := slices.Clone(as)
	slices.SortStableFunc(slow, func(a, b registry.Attempt) int { return cmp.Compare(took(b), took(a)) })
	tw := c.table("task\tworker\tslot\ttook\twaited\toutcome\tattempt")
	for _, a := range slow[:min(10, len(slow))] {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", a.Task, tl.Workers[a.Worker], a.Slot, us(took(a)).Round(time.Microsecond),
			us(a.Started-a.Queued).Round(time.Microsecond), a.Outcome, a.Kind)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(c.out, "\nworkers (from their first attempt to their last end, over their slots):")
	tw = c.table("worker\tattempts\tslots\tbusy\tidle\tlongest gap on a slot")
	for w, name := range tl.Workers {
		ends := map[int]int64{} // of each slot's attempts so far
		var n int
		var busy, first, last, gap int64
		first = -1
		for _, a := range as { // in the order they started
			if a.Worker != w {
				continue
			}
			n++
			end := a.Started + took(a)
			busy += end - a.Started
			if first < 0 || a.Started < first {
				first = a.Started
			}
			last = max(last, end)
			if e, ok := ends[a.Slot]; ok {
				gap = max(gap, a.Started-e)
			}
			ends[a.Slot] = max(ends[a.Slot], end)
		}
		if n == 0 {
			continue
		}
		span := (last - first) * int64(len(ends))
		idle := ""
		if span > 0 {
			idle = fmt.Sprintf("%.0f%%", 100*float64(max(span-busy, 0))/float64(span))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", name, n, len(ends), us(busy).Round(time.Microsecond), idle, us(gap).Round(time.Microsecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	var reruns []registry.Attempt
	for _, a := range as {
		if a.Kind != registry.First || a.Outcome != registry.Succeeded && a.Outcome != registry.Running {
			reruns = append(reruns, a)
		}
	}
	if len(reruns) == 0 {
		fmt.Fprintln(c.out, "\nno reruns: every task's first attempt was its only one")
		return nil
	}
	fmt.Fprintf(c.out, "\nreruns and the attempts that made them (%d):\n", len(reruns))
	tw = c.table("task\tattempt\tworker\toutcome\ttook")
	for _, a := range reruns[:min(20, len(reruns))] {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", a.Task, a.Kind, tl.Workers[a.Worker], a.Outcome, us(took(a)).Round(time.Microsecond))
	}
	return tw.Flush()
}

func (c *cli) cancel(ctx context.Context, id string) error {
	j, err := c.find(ctx, id)
	if err != nil {
		return err
	}
	if j.Final() {
		return fmt.Errorf("job %s is %s already", j.ID, j.State)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := c.nc.RequestWithContext(rctx, registry.JobCancelSubject(j.Foreman, j.ID), nil)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("job %s is not running any more (its foreman %s does not answer)", j.ID, j.Foreman)
	case err != nil:
		return fmt.Errorf("cancel job %s: %w", j.ID, err)
	case string(reply.Data) != "ok":
		return fmt.Errorf("job %s is not running any more (its foreman %s says: %.200s)", j.ID, j.Foreman, reply.Data)
	}
	if c.json {
		return c.emit(map[string]string{"cancelled": j.ID})
	}
	fmt.Fprintf(c.out, "cancelled job %s (%s) on foreman %s\n", j.ID, j.Name, j.Foreman)
	return nil
}

// works lists the job center's Works.
func (c *cli) works(ctx context.Context, f jobcenter.Filter) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	jc, err := jobcenter.New(ctx, c.nc)
	if err != nil {
		return err
	}
	ws, err := jc.List(ctx, f)
	if err != nil {
		return err
	}
	slices.SortFunc(ws, func(a, b *jobcenter.Info) int { return b.Created.Compare(a.Created) })
	if ws == nil {
		ws = []*jobcenter.Info{}
	}
	if c.json {
		return c.emit(ws)
	}
	tw := c.table("ID\tTYPE\tSTATUS\tATTEMPTS\tPROGRESS\tCREATED\tLAST ERROR")
	for _, w := range ws {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d/%d\t%s\t%s\n", w.ID, w.Type, w.Status, w.Attempts, w.MaxAttempts,
			w.Progress.Done, w.Progress.Total, w.Created.Local().Format(time.DateTime), w.LastError())
	}
	return tw.Flush()
}

// work shows one Work's record.
func (c *cli) work(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	jc, err := jobcenter.New(ctx, c.nc)
	if err != nil {
		return err
	}
	w, err := jc.Status(ctx, id)
	if errors.Is(err, jobcenter.ErrNotFound) {
		return fmt.Errorf("%w: %s", errNoWork, id)
	}
	if err != nil {
		return err
	}
	w.InputData, w.ResultData = nil, nil // data, not status
	if c.json {
		return c.emit(w)
	}
	tw := c.table("")
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("id", w.ID)
	row("type", w.Type)
	row("status", w.Status)
	row("durable", w.Durable)
	row("attempts", fmt.Sprintf("%d of %d", w.Attempts, w.MaxAttempts))
	row("created", w.Created.Local().Format(time.RFC3339))
	if w.Contractor != "" {
		row("contractor", w.Contractor)
	}
	if w.Status == jobcenter.Running {
		row("progress", fmt.Sprintf("%d/%d tasks", w.Progress.Done, w.Progress.Total))
	}
	if !w.Finished.IsZero() {
		row("finished", w.Finished.Local().Format(time.RFC3339))
	}
	for _, e := range w.Errors {
		row("error", e)
	}
	return tw.Flush()
}

// watch prints the status and the running jobs every interval, n times
// (0: until ctx ends), over the last print on a terminal.
func (c *cli) watch(ctx context.Context, every time.Duration, n int) error {
	f, isFile := c.out.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; n == 0 || i < n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
		snap, jobs, err := c.read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		running := slices.DeleteFunc(slices.Clone(jobs), func(j *registry.Job) bool { return j.Final() })
		if c.json {
			if err := c.emit(map[string]any{"status": c.statusView(snap, jobs), "running": running}); err != nil {
				return err
			}
			continue
		}
		if tty {
			fmt.Fprint(c.out, "\x1b[H\x1b[2J")
		} else if i > 0 {
			fmt.Fprintln(c.out)
		}
		fmt.Fprintf(c.out, "%s\n", time.Now().Format(time.TimeOnly))
		c.printStatus(c.statusView(snap, jobs))
		fmt.Fprintln(c.out)
		c.printJobs(running)
	}
	return nil
}

// table returns a writer of aligned columns, header (if any) written.
func (c *cli) table(header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	if header != "" {
		fmt.Fprintln(tw, header)
	}
	return tw
}

// emit writes v as indented JSON.
func (c *cli) emit(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// center returns the job center's client, which says on stderr what it
// waits for while the park does not answer.
func (c *cli) center(ctx context.Context) (*jobcenter.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	jc, err := jobcenter.New(ctx, c.nc)
	if err != nil {
		return nil, err
	}
	jc.SetLogger(c.log)
	return jc, nil
}

// submit submits a Work and prints its ID.
func (c *cli) submit(ctx context.Context, o *opts, files []string) error {
	w := o.submit
	if w.Type == wordcount.Type {
		if len(files) == 0 {
			return usageError{errors.New("submit -type wordcount wants the files to count")}
		}
		var err error
		if w.Input, err = wordcount.WorkInput(files, o.partSize, false); err != nil {
			return err
		}
	} else if len(files) > 0 {
		return usageError{fmt.Errorf("submit -type %s takes no files, got %q", w.Type, files)}
	}
	if o.after > 0 {
		w.NotBefore = time.Now().Add(o.after)
	}
	jc, err := c.center(ctx)
	if err != nil {
		return err
	}
	id, err := jc.Submit(ctx, w)
	if err != nil {
		return err
	}
	if c.json {
		return c.emit(map[string]string{"id": id})
	}
	fmt.Fprintln(c.out, id)
	return nil
}

// wait waits for a Work and prints its result.
func (c *cli) wait(ctx context.Context, id string, top int) error {
	jc, err := c.center(ctx)
	if err != nil {
		return err
	}
	out, err := jc.Wait(ctx, id)
	if errors.Is(err, jobcenter.ErrNotFound) {
		return fmt.Errorf("%w: %s", errNoWork, id)
	}
	if err != nil {
		return err
	}
	if counts, ok := out.Counts(wordcount.KeyCounts); ok && !c.json {
		return wordcount.Write(c.out, counts, top)
	}
	return c.printResult(out)
}

// printResult prints a result Warehouse's keys and values.
func (c *cli) printResult(out *warehouse.Warehouse) error {
	if c.json {
		m := map[string]any{}
		for _, k := range out.Keys() {
			m[k], _ = out.Get(k)
		}
		return c.emit(m)
	}
	tw := c.table("")
	for _, k := range out.Keys() {
		v, _ := out.Get(k)
		fmt.Fprintf(tw, "%s:\t%v\n", k, v)
	}
	return tw.Flush()
}

func (c *cli) cancelWork(ctx context.Context, id string) error {
	jc, err := c.center(ctx)
	if err != nil {
		return err
	}
	if err := jc.Cancel(ctx, id); errors.Is(err, jobcenter.ErrNotFound) {
		return fmt.Errorf("%w: %s", errNoWork, id)
	} else if err != nil {
		return err
	}
	if c.json {
		return c.emit(map[string]string{"cancelled": id})
	}
	fmt.Fprintf(c.out, "cancelled Work %s\n", id)
	return nil
}

func (c *cli) resubmit(ctx context.Context, id string) error {
	jc, err := c.center(ctx)
	if err != nil {
		return err
	}
	if err := jc.Resubmit(ctx, id); errors.Is(err, jobcenter.ErrNotFound) {
		return fmt.Errorf("%w: %s", errNoWork, id)
	} else if err != nil {
		return err
	}
	if c.json {
		return c.emit(map[string]string{"resubmitted": id})
	}
	fmt.Fprintf(c.out, "resubmitted Work %s\n", id)
	return nil
}
