package wire

// ClusterSubject is where every park server answers a request with its
// view of the cluster (parkserver.ClusterView, JSON): a client gathers
// the answers of all the servers it can reach.
const ClusterSubject = "fourinone.park.cluster"

// Subjects under a workman's prefix ("fi.w.<id>"): DoTask calls, Receive
// calls, and cancellations of running calls.
const (
	subjectTask   = ".task"
	subjectRecv   = ".recv"
	subjectCancel = ".cancel"
)

// WorkmanPrefix returns the subject prefix of the workman with id.
func WorkmanPrefix(id string) string { return "fi.w." + id }

// TaskSubject returns the DoTask subject under prefix.
func TaskSubject(prefix string) string { return prefix + subjectTask }

// ReceiveSubject returns the Receive subject under prefix.
func ReceiveSubject(prefix string) string { return prefix + subjectRecv }

// CancelSubject returns the cancellation subject under prefix.
func CancelSubject(prefix string) string { return prefix + subjectCancel }
