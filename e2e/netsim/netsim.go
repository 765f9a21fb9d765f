// Package netsim makes simulated hosts for tests: one Linux network
// namespace per host, joined by a bridge in a namespace of its own (the
// switch), each host with its own address in 192.0.2.0/24 (TEST-NET-1,
// never routed), and faults between them made with iptables inside the
// hosts' namespaces: partitions both ways or one way, a host isolated, a
// link black-holed (packets dropped, no reset). Every fault is undone by
// Heal, and every namespace by the test's cleanup.
//
// The test process stays in its own namespace, which has no link to the
// hosts (the machine's own network may use 192.0.2.0/24 too: no route to
// the simulated one is added there): everything that talks to the hosts
// runs on a host, and the test reads its outcome from the processes.
//
// Its tests run only with FOURINONE_NET_TESTS set (as .ci/run does): they
// take minutes. They need root, ip (iproute2) and iptables, and fail,
// saying why, without them.
package netsim

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Net is a set of simulated hosts on one bridge. Its methods are safe for
// concurrent use.
type Net struct {
	t      testing.TB
	prefix string // of its namespaces' names
	sw     string // the switch namespace

	mu    sync.Mutex // guards hosts and rules
	hosts []*Host
	rules []rule // iptables rules in force, to undo
}

// Host is one simulated host: a network namespace with one address.
type Host struct {
	Name string // as the test named it
	NS   string // its namespace
	Addr string // its address, 192.0.2.N
}

type rule struct {
	ns   string
	args []string // after -A / -D
}

var nets atomic.Int64

// New makes an empty network (the switch), removed at the test's end.
func New(t testing.TB) *Net {
	t.Helper()
	need := func(why string) {
		if os.Getenv("FOURINONE_NET_TESTS") != "" {
			t.Fatalf("netsim: %s, and FOURINONE_NET_TESTS is set", why)
		}
		t.Skipf("netsim: %s: simulated hosts need root, ip and iptables (apt-get install iproute2 iptables)", why)
	}
	if os.Getenv("FOURINONE_NET_TESTS") == "" {
		// They take minutes: the README's test command leaves them to
		// .ci/run, which sets FOURINONE_NET_TESTS=1.
		t.Skip("netsim: the network tests run with FOURINONE_NET_TESTS=1 (as .ci/run does)")
	}
	if os.Geteuid() != 0 {
		need("not root")
	}
	for _, bin := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			need("no " + bin + " on $PATH")
		}
	}
	k := nets.Add(1)
	n := &Net{t: t, prefix: fmt.Sprintf("fi%d-%d-", os.Getpid(), k)}
	n.sw = n.prefix + "sw"
	t.Cleanup(n.remove)
	n.run("ip", "netns", "add", n.sw)
	n.run("ip", "-n", n.sw, "link", "add", "br0", "type", "bridge")
	n.run("ip", "-n", n.sw, "link", "set", "br0", "up")
	n.run("ip", "-n", n.sw, "link", "set", "lo", "up")
	return n
}

// Host adds a host named name (for messages) with the next address.
func (n *Net) Host(name string) *Host {
	n.t.Helper()
	n.mu.Lock()
	i := len(n.hosts) + 1
	h := &Host{Name: name, NS: fmt.Sprintf("%sh%d", n.prefix, i), Addr: fmt.Sprintf("192.0.2.%d", i)}
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	port := fmt.Sprintf("h%d", i)
	n.run("ip", "netns", "add", h.NS)
	n.run("ip", "-n", h.NS, "link", "set", "lo", "up")
	n.run("ip", "link", "add", "eth0", "netns", h.NS, "type", "veth", "peer", "name", port, "netns", n.sw)
	n.run("ip", "-n", n.sw, "link", "set", port, "master", "br0", "up")
	n.run("ip", "-n", h.NS, "addr", "add", h.Addr+"/24", "dev", "eth0")
	n.run("ip", "-n", h.NS, "link", "set", "eth0", "up")
	return h
}

// Command returns a command that runs name with args on h.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Partition cuts every host of a from every host of b, both ways: packets
// between them are dropped (no reset: connections hang until their
// timeouts).
func (n *Net) Partition(a, b []*Host) {
	n.t.Helper()
	for _, x := range a {
		for _, y := range b {
			n.drop(x, y)
			n.drop(y, x)
		}
	}
}

// OneWay drops the packets from reaching to from from, and only those:
// to's answers still reach from (a TCP connection between them stalls).
func (n *Net) OneWay(from, to *Host) {
	n.t.Helper()
	n.drop(from, to)
}

// Isolate cuts h from every other host.
func (n *Net) Isolate(h *Host) {
	n.t.Helper()
	n.mu.Lock()
	var others []*Host
	for _, o := range n.hosts {
		if o != h {
			others = append(others, o)
		}
	}
	n.mu.Unlock()
	n.Partition([]*Host{h}, others)
}

// Heal undoes every fault.
func (n *Net) Heal() {
	n.t.Helper()
	n.mu.Lock()
	rules := n.rules
	n.rules = nil
	n.mu.Unlock()
	for _, r := range rules {
		n.iptables(r.ns, append([]string{"-D"}, r.args...)...)
	}
}

// drop drops the packets from from to to, as they leave from (OUTPUT) and
// as they arrive at to (INPUT).
func (n *Net) drop(from, to *Host) {
	n.t.Helper()
	if from == to {
		n.t.Fatalf("netsim: a fault between %s and itself", from.Name)
	}
	rs := []rule{
		{from.NS, []string{"OUTPUT", "-d", to.Addr, "-j", "DROP"}},
		{to.NS, []string{"INPUT", "-s", from.Addr, "-j", "DROP"}},
	}
	for _, r := range rs {
		n.iptables(r.ns, append([]string{"-A"}, r.args...)...)
	}
	n.mu.Lock()
	n.rules = append(n.rules, rs...)
	n.mu.Unlock()
}

func (n *Net) iptables(ns string, args ...string) {
	n.t.Helper()
	n.run("ip", append([]string{"netns", "exec", ns, "iptables", "-w"}, args...)...)
}

// run runs a command of the harness, failing the test if it fails.
func (n *Net) run(name string, args ...string) {
	n.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		n.t.Fatalf("netsim: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// remove deletes the namespaces (their links go with them). Processes still in a namespace keep it alive until
// they end, without its name; the tests stop theirs first.
func (n *Net) remove() {
	n.mu.Lock()
	hosts := n.hosts
	n.mu.Unlock()
	for _, h := range hosts {
		_ = exec.Command("ip", "netns", "del", h.NS).Run()
	}
	_ = exec.Command("ip", "netns", "del", n.sw).Run()
}
