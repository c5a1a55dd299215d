// Package batch runs adaptations over a model zoo: a manifest (YAML or
// JSON) lists models and constraint sets with shared defaults, and every
// model × constraint set is a job with a folder of its own.
//
// A batch skips the jobs a previous batch finished (their record,
// job.json, says met, not met or blocked), checks every other job's
// input before it runs any (Runner.Check: nothing is written when one is
// bad), runs them in manifest order, records a failed job and goes on,
// and stops at an interruption, leaving the job it was running to be
// resumed (the adaptation itself resumes: package search).
//
// It scales out on the cluster engines teams already run rather than a
// scheduler of its own: a Shard runs every Count-th job of the manifest,
// so that a Kubernetes Indexed Job or a Slurm job array, every task a
// shard writing to shared storage, splits the jobs exactly; Summarize then
// merges what the shards wrote into one summary (CSV, markdown and a
// trade-off plot). The jobs share one latency table per device, which
// lut.Table.Save merges under a file lock.
//
// The adaptation is the command line's (Runner); this package knows
// manifests, folders, shards and summaries. Errors start with "batch: ";
// a mistake in a manifest names its line (*LineError).
package batch
