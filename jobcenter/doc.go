// Package jobcenter will hold Works registered to run later or elsewhere:
// a durable queue of Works in a JetStream stream on the park server, so a
// Work marked durable is never lost until it completes, with a status per
// Work and a Work that can name the Work that follows it (Fourinone's
// JobCenter: registerWork, getWorkStatus, doWork, automatch).
//
// Nothing is implemented yet; the park server, workmen and foremen work
// without it.
package jobcenter
