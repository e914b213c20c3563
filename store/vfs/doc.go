// Package vfs is the filesystem seam of the store: every byte the store puts
// on disk goes through an FS, so tests can swap the operating system for an
// in-memory filesystem that can simulate a crash (Mem.CrashClone) or for a
// wrapper that injects errors (package errorfs).
//
// What it owns: the FS and File interfaces, the OS implementation (Default)
// and the in-memory implementation (NewMem, NewMemUntracked). What it leaves
// to others: file formats, naming and recovery belong to store/tlog and the
// index.
//
// Concurrency: every FS method may be called from any goroutine. A File may
// be read (ReadAt, Stat) from many goroutines while one goroutine writes it;
// callers serialise writes, Sync, Truncate and Close themselves, exactly as
// with an *os.File.
//
// Durability contract (the one the store codes against, and the one Mem
// enforces under CrashClone):
//   - File.Sync makes the file's data and size durable, not its name.
//   - FS.SyncDir(dir) makes the directory's entries durable: a file created,
//     renamed or removed in dir survives a crash only after SyncDir(dir).
//   - Directories made by MkdirAll are durable at once (a simplification:
//     the store creates its directory once, before any data exists).
//   - Preallocate reserves space for a byte range without changing the file
//     size (fallocate KEEP_SIZE on Linux), so running out of disk shows up
//     when a chunk is created rather than in the middle of a write.
package vfs
