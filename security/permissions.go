package security

import "github.com/nats-io/jwt/v2"

// Subjects the permissions name. They are the framework's own (see
// internal/wire, internal/registry and jobcenter); the e2e tests run every
// role with the permissions below, so a subject missing here fails them.
const (
	registryStream = "KV_fourinone_registry"
	registryKV     = "$KV.fourinone_registry."
	// InboxPrefix + "." + name is where a member's replies come: the
	// inboxes of its requests and of its calls to workers.
	InboxPrefix = "_INBOX"
	// WorkmanPrefix + name is a workman's subject prefix.
	WorkmanPrefix = "fi.w."
)

// jobCenter is what the job center's users and contractors need.
var jobCenter = []string{
	"$KV.fourinone_works.>", "$KV.fourinone_works_mem.>", "$O.fourinone_blobs.>", "fourinone.queue.>",
	"$JS.API.STREAM.INFO.KV_fourinone_works", "$JS.API.STREAM.INFO.KV_fourinone_works_mem",
	"$JS.API.STREAM.INFO.OBJ_fourinone_blobs", "$JS.API.STREAM.INFO.FOURINONE_QUEUE",
	"$JS.API.DIRECT.GET.KV_fourinone_works.>", "$JS.API.DIRECT.GET.KV_fourinone_works_mem.>",
	"$JS.API.DIRECT.GET.KV_fourinone_works", "$JS.API.DIRECT.GET.KV_fourinone_works_mem", // many records at once
	"$JS.API.DIRECT.GET.OBJ_fourinone_blobs.>", "$JS.API.STREAM.MSG.GET.OBJ_fourinone_blobs",
	"$JS.API.STREAM.MSG.GET.KV_fourinone_works", "$JS.API.STREAM.MSG.GET.KV_fourinone_works_mem", // in a cluster
	"$JS.API.CONSUMER.CREATE.KV_fourinone_works.>", "$JS.API.CONSUMER.CREATE.KV_fourinone_works_mem.>",
	"$JS.API.CONSUMER.CREATE.OBJ_fourinone_blobs.>", "$JS.API.CONSUMER.CREATE.FOURINONE_QUEUE.>",
	"$JS.API.CONSUMER.DELETE.KV_fourinone_works.>", "$JS.API.CONSUMER.DELETE.KV_fourinone_works_mem.>",
	"$JS.API.CONSUMER.DELETE.OBJ_fourinone_blobs.>",
	"$JS.API.CONSUMER.INFO.FOURINONE_QUEUE.>", "$JS.API.CONSUMER.MSG.NEXT.FOURINONE_QUEUE.>",
	"$JS.API.CONSUMER.MSG.NEXT.KV_fourinone_works.>", "$JS.API.CONSUMER.MSG.NEXT.KV_fourinone_works_mem.>",
	"$JS.ACK.FOURINONE_QUEUE.>", "$JS.FC.>",
	"$JS.API.STREAM.PURGE.OBJ_fourinone_blobs",
}

// parkNodes is where the park's coordination nodes are written.
const parkNodes = "$KV.fourinone_park.>"

// coordination is what the park's coordination service (package park)
// needs: every member may use it (writing nodes: see parkNodes).
var coordination = []string{
	"$JS.API.STREAM.INFO.KV_fourinone_park",
	"$JS.API.DIRECT.GET.KV_fourinone_park", "$JS.API.DIRECT.GET.KV_fourinone_park.>", "$JS.API.STREAM.MSG.GET.KV_fourinone_park",
	"$JS.API.CONSUMER.CREATE.KV_fourinone_park", "$JS.API.CONSUMER.CREATE.KV_fourinone_park.>",
	"$JS.API.CONSUMER.DELETE.KV_fourinone_park.>",
	"$JS.FC.KV_fourinone_park.>",
}

// jobsRead is reading the jobs' states and the park's cluster (fourinone
// status, jobs).
var jobsRead = []string{
	"fourinone.park.cluster",
	"$JS.API.STREAM.INFO.FOURINONE_JOBS", "$JS.API.CONSUMER.CREATE.FOURINONE_JOBS.>", "$JS.API.CONSUMER.DELETE.FOURINONE_JOBS.>",
	"$JS.API.CONSUMER.MSG.NEXT.FOURINONE_JOBS.>",
	"$JS.API.STREAM.INFO.FOURINONE_TIMELINES", "$JS.API.CONSUMER.CREATE.FOURINONE_TIMELINES.>",
	"$JS.API.CONSUMER.DELETE.FOURINONE_TIMELINES.>", "$JS.API.CONSUMER.MSG.NEXT.FOURINONE_TIMELINES.>",
}

// Permissions returns what a user of role named name may publish and
// subscribe to: the least its role needs, with its own name wherever a
// subject names a member. It may write the park's coordination nodes under
// parkWrites (see ParkWrites), or all of them if there are none. An admin
// has no limits.
func Permissions(role, name string, parkWrites ...string) jwt.Permissions {
	if role == RoleAdmin {
		return jwt.Permissions{}
	}
	inbox := InboxPrefix + "." + name + ".>"
	pub := []string{
		// Reading the registry: its status, its entries, watches.
		"$JS.API.INFO", "$JS.API.STREAM.INFO." + registryStream,
		"$JS.API.DIRECT.GET." + registryStream + ".>", "$JS.API.STREAM.MSG.GET." + registryStream, // the latter in a cluster
		"$JS.API.CONSUMER.CREATE." + registryStream, "$JS.API.CONSUMER.CREATE." + registryStream + ".>",
		"$JS.API.CONSUMER.DELETE." + registryStream + ".>", "$JS.API.CONSUMER.INFO." + registryStream + ".>",
		"$JS.FC." + registryStream + ".>",
		// Its own entry.
		registryKV + role + "." + name,
		// Replies to calls and answers to workers' flow-control asks
		// (inboxes are random: a member cannot read others').
		InboxPrefix + ".>",
		// Cancelling its own calls: the cancel subject ends with the
		// caller's name, and the worker checks the call is that caller's.
		WorkmanPrefix + "*.cancel." + name,
	}
	pub = append(pub, coordination...)
	pub = append(pub, jobsRead...)
	if len(parkWrites) == 0 {
		parkWrites = []string{parkNodes}
	}
	pub = append(pub, parkWrites...)
	sub := []string{inbox}
	switch role {
	case RoleWorkman:
		pub = append(pub, WorkmanPrefix+"*.recv") // its peers
		sub = append(sub, WorkmanPrefix+name+".>", registryKV+"claim."+name)
	case RoleForeman:
		pub = append(pub, WorkmanPrefix+"*.task", registryKV+"claim.*", registryKV+"contractor."+name)
		pub = append(pub, jobCenter...)
		pub = append(pub, "fourinone.job."+name+".*", "fourinone.timeline."+name+".*") // its jobs' state and timelines
		sub = append(sub, "$KV.fourinone_works.w.*", "$KV.fourinone_works_mem.w.*", "fourinone.jobcancel."+name+".*")
	}
	return jwt.Permissions{Pub: jwt.Permission{Allow: pub}, Sub: jwt.Permission{Allow: sub}}
}
