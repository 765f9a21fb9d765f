// Package jobcenter keeps Works that run later or elsewhere, on the park
// server (Fourinone's JobCenter: registerWork, getWorkStatus, doWork,
// automatch).
//
// A Client submits Works (idempotently, by ID), reads their records, waits
// for their results and cancels them; a Contractor, a foreman with a
// Definition of how to build a Work's job, takes waiting Works of its type
// from the park's queue and runs each as one Foreman.Run. A Work's record
// in a JetStream key-value bucket is its truth: every change is a
// compare-and-set, so a Work completes once however often it runs. Durable
// Works live in the park's file storage and outlive any process; the
// others are kept in its memory. Works may form chains (Next), wait for
// others (After), be delayed, prioritized and retried.
//
// Clients and contractors send their writes and reads to the park in
// batches (calls made while one batch is on its way go in the next), and a
// Work's final record is sent to the client that submitted it, whose Wait
// need not read it. docs/jobcenter.md has the model, the guarantees and the
// measurements.
package jobcenter
