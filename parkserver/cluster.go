package parkserver

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ClusterView is what /api/cluster shows and what a park server answers
// on wire.ClusterSubject: its place in its cluster as it sees it.
type ClusterView struct {
	// Name is this server's name.
	Name      string `json:"name"`
	Clustered bool   `json:"clustered"`
	// Leader is whether this server leads the cluster's JetStream (the
	// meta leader, which places streams and elects their leaders), and
	// MetaLeader the name of the one that does (blank: none known, an
	// election or no quorum).
	Leader     bool   `json:"jetstream_meta_leader"`
	MetaLeader string `json:"meta_leader,omitempty"`
	// Routes names the servers this one has a route to.
	Routes []string `json:"routes,omitempty"`
	// Peers are the servers of the meta group, as this server sees them
	// (whether each is current is known for sure on the meta leader).
	Peers []Replica `json:"peers,omitempty"`
	// Streams are the park's streams and buckets, each with its leader
	// and its replicas as that leader sees them; StreamsError says why
	// they could not be read (no meta leader, no quorum).
	Streams      []StreamView `json:"streams,omitempty"`
	StreamsError string       `json:"streams_error,omitempty"`
}

// Replica is a server keeping a copy of a stream or of the meta group.
type Replica struct {
	Name    string `json:"name"`
	Leader  bool   `json:"leader,omitempty"`
	Current bool   `json:"current"`
	// Offline: JetStream says so, it went unheard for 10 s, or this
	// server has no route to it.
	Offline bool `json:"offline,omitempty"`
	// Lag is how many operations it is behind; SeenMS how long ago the
	// leader last heard from it.
	Lag    uint64 `json:"lag,omitempty"`
	SeenMS int64  `json:"seen_ms"`
}

// StreamView is one stream: its leader (blank: none, the stream cannot
// take writes) and its replicas.
type StreamView struct {
	Name     string    `json:"name"`
	Messages uint64    `json:"messages"`
	Leader   string    `json:"leader,omitempty"`
	Replicas []Replica `json:"replicas"`
}

// clusterReadTimeout bounds the stream reads of a ClusterView.
const clusterReadTimeout = 2 * time.Second

// ClusterView reports this server's place in its cluster.
func (s *Server) ClusterView(ctx context.Context) ClusterView {
	s.mu.Lock()
	ns, nc, stopped := s.ns, s.nc, s.stopped
	s.mu.Unlock()
	v := ClusterView{Name: s.cfg.Name, Clustered: s.cfg.Cluster != ""}
	if ns == nil || stopped {
		return v
	}
	v.Leader = ns.JetStreamIsLeader()
	if !v.Clustered {
		return v
	}
	if rz, err := ns.Routez(nil); err == nil {
		for _, r := range rz.Routes {
			if r.RemoteName != "" && !slices.Contains(v.Routes, r.RemoteName) {
				v.Routes = append(v.Routes, r.RemoteName)
			}
		}
		slices.Sort(v.Routes)
	}
	if jz, err := ns.Jsz(nil); err == nil && jz.Meta != nil {
		v.MetaLeader = jz.Meta.Leader
		v.Peers = replicas(jz.Meta.Leader, jz.Meta.Replicas)
		if v.MetaLeader != "" && !slices.ContainsFunc(v.Peers, func(r Replica) bool { return r.Name == v.Name }) {
			v.Peers = append(v.Peers, Replica{Name: v.Name, Current: true}) // a follower leaves itself out
		}
	}
	if nc == nil {
		return v
	}
	js, err := jetstream.New(nc)
	if err != nil {
		v.StreamsError = err.Error()
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, clusterReadTimeout)
	defer cancel()
	list := js.ListStreams(ctx)
	for si := range list.Info() {
		sv := StreamView{Name: si.Config.Name, Messages: si.State.Msgs}
		if c := si.Cluster; c != nil {
			sv.Leader = c.Leader
			sv.Replicas = streamReplicas(c)
		}
		v.Streams = append(v.Streams, sv)
	}
	if err := list.Err(); err != nil {
		v.StreamsError = err.Error()
	}
	slices.SortFunc(v.Streams, func(a, b StreamView) int { return strings.Compare(a.Name, b.Name) })
	v.markUnreachable()
	return v
}

// markUnreachable shows offline every replica on a server this one has no
// route to: the servers of a cluster route to each other, so that server
// is down or cut off from this one, whatever the last word of it was.
func (v *ClusterView) markUnreachable() {
	mark := func(rs []Replica) {
		for i := range rs {
			if r := &rs[i]; r.Name != v.Name && !slices.Contains(v.Routes, r.Name) {
				r.Current, r.Offline = false, true
			}
		}
	}
	mark(v.Peers)
	for i := range v.Streams {
		mark(v.Streams[i].Replicas)
	}
}

// answerCluster answers a request on wire.ClusterSubject with this
// server's ClusterView.
func (s *Server) answerCluster(m *nats.Msg) {
	if m.Reply != "" {
		_ = m.Respond(s.clusterJSON())
	}
}

// clusterJSON is this server's ClusterView as JSON, made at most once a
// second: requests (on wire.ClusterSubject and /api/cluster, from every
// open dashboard) wait for one view in the making and share it, so a
// flood of them costs the server little.
func (s *Server) clusterJSON() []byte {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	if time.Since(s.viewAt) > time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), clusterReadTimeout)
		b, err := json.Marshal(s.ClusterView(ctx))
		cancel()
		if err != nil {
			return s.viewJSON
		}
		s.viewJSON, s.viewAt = b, time.Now()
	}
	return s.viewJSON
}

// replicas turns the meta group's peers into Replicas, its leader first.
func replicas(leader string, peers []*server.PeerInfo) []Replica {
	out := leaderFirst(leader)
	for _, p := range peers {
		if p.Name != leader {
			out = append(out, replica(p.Name, p.Current, p.Offline, p.Lag, p.Active))
		}
	}
	return out
}

// streamReplicas is a stream's leader and replicas as Replicas.
func streamReplicas(c *jetstream.ClusterInfo) []Replica {
	out := leaderFirst(c.Leader)
	for _, p := range c.Replicas {
		out = append(out, replica(p.Name, p.Current, p.Offline, p.Lag, p.Active))
	}
	return out
}

// peerLost is how long a replica goes unheard before it is shown offline
// (JetStream says so only of a server removed from the cluster; one that
// died stays "behind").
const peerLost = 10 * time.Second

func replica(name string, current, offline bool, lag uint64, seen time.Duration) Replica {
	return Replica{Name: name, Current: current, Offline: offline || !current && seen > peerLost, Lag: lag, SeenMS: seen.Milliseconds()}
}

// leaderFirst starts a list of replicas with the leader, if there is one.
func leaderFirst(leader string) []Replica {
	if leader == "" {
		return []Replica{}
	}
	return []Replica{{Name: leader, Leader: true, Current: true}}
}
