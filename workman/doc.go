// Package workman runs a user's Worker: it registers it with the park
// server, heartbeats, and serves the two entry points, DoTask (from
// foremen) and Receive (from other workers).
//
// A program embeds a workman in a few lines:
//
//	err := workman.Run(ctx, workman.Config{Type: "square", ParkURL: url}, myWorker)
//
// or, for more control, New, Start and Shutdown. A Worker of Go values
// is a function: Func(func(ctx, In) (Out, error)); Typed adds a typed
// Receive, and Send sends a peer a value (see package codec).
//
// # Modes
//
// In mesh mode (the default) the workman starts an embedded NATS server of
// its own on Config.Listen and advertises its URL in the registry; foremen
// and peers connect to it directly, so a job in progress does not depend
// on the park server. In hub mode it serves the same subjects on the park
// server's connection.
//
// # Calls
//
// At most Config.Capacity DoTask calls run at once; further calls queue.
// A DoTask that returns an error or panics produces an exception result
// carrying the message; the workman keeps serving. A caller that gives up
// (its context ends) cancels the DoTask's context.
//
// Receive calls run on their own subscription and goroutines, never behind
// a DoTask: a worker inside DoTask can call Peer.Receive on every other
// worker, each of which is inside its own DoTask, and all of them return.
// Peer.Receive returns after the peer's Receive returned, with its error.
//
// Inside DoTask or Receive, MeshFrom(ctx) lists the other workers (Else,
// Index, All, ElseOfType, IndexOfType, AllOfType, Self, SelfIndex), read
// from the registry once per call. A worker's index is its position among
// the live workers of its type, ordered by start time.
package workman
