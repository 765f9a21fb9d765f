// Package foreman is the library a job's program uses to get workers from
// the park server and hand them tasks.
//
//	f, err := foreman.Dial(ctx, parkURL, foreman.Config{})
//	defer f.Close()
//	ws, err := f.WaitWorkers(waitCtx, "wordcount", 2)
//	result, err := f.Run(ctx, ws, mySplitter, myCombiner)
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
// An exception result (the worker's DoTask returned an error or panicked)
// is a *TaskError carrying the worker's message. Run stops at the first
// failure: an exception, a lost connection to a worker, or a split or
// combine error; tasks still running are cancelled. Retrying, reassigning
// the tasks of lost workers and backup tasks for stragglers are not done
// yet.
package foreman
