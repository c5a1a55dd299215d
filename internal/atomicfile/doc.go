// Package atomicfile writes files so that a reader, or a crash, sees either
// the old file or the whole new one, never a half-written file.
//
// A write goes to a temporary file in the destination's own folder (so that
// the final rename cannot cross file systems). [File.Commit] syncs it,
// renames it over the destination and syncs the folder, so that the rename
// itself survives a crash. Until then the destination is untouched, and on
// any error, or on [File.Discard], the temporary file is removed.
//
// The temporary file comes from github.com/google/renameio/v2 (created with
// O_EXCL under a random name ".NAME" followed by digits, synced before its
// rename); this package adds the folder sync, the clean-up on every error
// path, and one mode (0644) for every file the project writes.
//
// [WriteFile] and [Write] cover the common cases; [Create] serves a caller
// that must check its output before putting it in place, or put several
// files in place together (onnxio.Save with external data).
package atomicfile
