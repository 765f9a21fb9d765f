package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/parkserver"
)

// clusterWait is how long status waits for the park servers' answers
// when some it has heard of have not answered.
const clusterWait = time.Second

// maxServers bounds the park servers status lists: answers past it (a
// client that spams the inbox) are not read.
const maxServers = 64

// clusterStatus is the park's cluster as status shows it: every server
// heard of, whether it answered, and the streams as their leaders see
// them.
type clusterStatus struct {
	MetaLeader string                  `json:"meta_leader"`
	Servers    []serverStatus          `json:"servers"`
	Streams    []parkserver.StreamView `json:"streams"`
	// StreamsError says why the streams could not be read.
	StreamsError string `json:"streams_error,omitempty"`
}

// serverStatus is one park server: whether it answered, its place in the
// meta group (leader, current, behind, offline: as the meta leader sees
// it) and the servers it has routes to.
type serverStatus struct {
	Name     string   `json:"name"`
	Answered bool     `json:"answered"`
	Meta     string   `json:"meta"`
	Routes   []string `json:"routes"`
}

// cluster asks every park server it can reach for its view of the
// cluster (nil for a park of one server). It waits until every server
// heard of has answered, or clusterWait.
func (c *cli) cluster(ctx context.Context) (*clusterStatus, error) {
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := c.nc.PublishRequest(wire.ClusterSubject, inbox, nil); err != nil {
		return nil, err
	}
	views := map[string]parkserver.ClusterView{}
	heard := map[string]bool{}
	deadline := time.Now().Add(clusterWait + 3*time.Second) // a server reads its streams for up to 2 s
	for ctx.Err() == nil {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var v parkserver.ClusterView
		if json.Unmarshal(m.Data, &v) != nil || v.Name == "" && v.Clustered {
			continue // not an answer of a park server
		}
		if !v.Clustered {
			return nil, nil
		}
		if len(views) == 0 { // the first answer: the others have clusterWait
			deadline = time.Now().Add(clusterWait)
		}
		views[v.Name] = v
		heard[v.Name] = true
		for _, r := range v.Routes {
			heard[r] = true
		}
		for _, p := range v.Peers {
			heard[p.Name] = true
		}
		if len(views) == len(heard) || len(heard) > maxServers {
			break
		}
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("no park server answered on %s within %v", wire.ClusterSubject, clusterWait+3*time.Second)
	}
	return clusterOf(views, heard), nil
}

// clusterOf merges the servers' views: the meta leader's, when it
// answered, says where each server stands.
func clusterOf(views map[string]parkserver.ClusterView, heard map[string]bool) *clusterStatus {
	cs := &clusterStatus{}
	var lead *parkserver.ClusterView
	for _, v := range views {
		if v.Leader {
			lead = &v
		}
		if cs.MetaLeader == "" {
			cs.MetaLeader = v.MetaLeader
		}
	}
	meta := map[string]string{}
	if lead != nil {
		cs.MetaLeader = lead.Name
		for _, p := range lead.Peers {
			meta[p.Name] = replicaState(p)
		}
	}
	for name := range heard {
		s := serverStatus{Name: name, Meta: meta[name]}
		if v, ok := views[name]; ok {
			s.Answered, s.Routes = true, v.Routes
		}
		if s.Meta == "" {
			s.Meta = "?"
		}
		cs.Servers = append(cs.Servers, s)
	}
	slices.SortFunc(cs.Servers, func(a, b serverStatus) int { return strings.Compare(a.Name, b.Name) })
	// The streams as the meta leader read them (from their leaders), else
	// as the first server by name that could; else the first reason none
	// could.
	names := slices.Sorted(maps.Keys(views))
	if lead != nil {
		names = append([]string{lead.Name}, names...)
	}
	for _, n := range names {
		if v := views[n]; v.StreamsError == "" && len(v.Streams) > 0 {
			cs.Streams, cs.StreamsError = v.Streams, ""
			break
		} else if cs.StreamsError == "" {
			cs.StreamsError = v.StreamsError
		}
	}
	return cs
}

// replicaState is a replica's place: leader, current, behind N, offline.
func replicaState(r parkserver.Replica) string {
	switch {
	case r.Leader:
		return "leader"
	case r.Offline:
		return "offline"
	case r.Current:
		return "current"
	case r.Lag > 0:
		return fmt.Sprintf("behind %d", r.Lag)
	}
	return "behind"
}

func (c *cli) printCluster(cs *clusterStatus) {
	leader := cs.MetaLeader
	if leader == "" {
		leader = "none (electing, or no quorum)"
	}
	fmt.Fprintf(c.out, "\ncluster of %d servers, meta leader %s\n", len(cs.Servers), leader)
	tw := c.table("SERVER\tANSWERED\tMETA\tROUTES")
	for _, s := range cs.Servers {
		answered := "no"
		if s.Answered {
			answered = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, answered, s.Meta, strings.Join(s.Routes, ","))
	}
	_ = tw.Flush()
	if cs.StreamsError != "" {
		fmt.Fprintf(c.out, "\nstreams: %s\n", cs.StreamsError)
		return
	}
	fmt.Fprintln(c.out)
	tw = c.table("STREAM\tMESSAGES\tLEADER\tREPLICAS")
	for _, st := range cs.Streams {
		var reps []string
		for _, r := range st.Replicas {
			if !r.Leader {
				reps = append(reps, r.Name+" "+replicaState(r))
			}
		}
		leader := st.Leader
		if leader == "" {
			leader = "none"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", st.Name, st.Messages, leader, strings.Join(reps, ", "))
	}
	_ = tw.Flush()
}
