// Package foreman is the library a job's program uses to get workers from
// the park server and hand them tasks.
//
//	f, err := foreman.Dial(ctx, parkURL, foreman.Config{})
//	defer f.Close()
//	ws, err := f.WaitWorkers(waitCtx, "wordcount", 2)
//	result, err := f.Run(ctx, ws, mySplitter, myCombiner)
//
// or, with Go values in and out of tasks (workers from workman.Func):
//
//	outs, err := foreman.Collect[Params, Stats](ctx, f, ws, params)
//
// Map folds typed results as they arrive (from any iter.Seq), Do runs one
// typed task and DoTeam a typed team job; they take every RunOption.
//
// GetWaitingWorkers and WaitWorkers claim free slots of waiting workers'
// capacity in the registry, so two foremen never hold the same slot. The
// foreman heartbeats its registration and its claims; Release, Close or
// the foreman's death (its lease expires) frees them.
//
// Workman.DoTask calls one worker and returns a Result handle (Done, Ready,
// Wait). DoTaskBatch runs one Warehouse on many workers. Run splits a job,
// keeps up to each worker's claimed slots of tasks in flight, and folds
// each result into the Combiner as it arrives.
//
// Run survives lost workers (their tasks move to other workers), backs up
// stragglers near the end of a job, retries exceptions when asked
// (Retries), can go on past failed tasks (ContinueOnError), stop early
// (StopWhen) and bound tasks and jobs in time (TaskTimeout, JobTimeout).
// Every task's result reaches the Combiner exactly once. See
// docs/guarantees.md.
package foreman
