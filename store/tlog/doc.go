// Package tlog is the chunked transaction log: the store's single source of
// truth. It frames opaque records (the semantic layer decides what a record
// means), gives each a logical position, makes them durable with group
// commit friendly Append/Flush, reads them back from any goroutine, and
// recovers after a crash.
//
// What it owns: chunk files, the record frame, the writer and truncate
// checkpoints, named checkpoints for other services (chaser, epoch, ...),
// recovery, truncation and background verification of sealed chunks. What
// it leaves to others: record contents, the index, when to flush (the
// storage writer service decides), stopping the node after a failure.
//
// # Threading
//
// Writer methods (Append, Flush, Truncate, Close) are called from one
// goroutine only, the storage writer. Reader methods (Durable, ReadAt,
// NewIterator, NewBackwardIterator, ChunkID, Stats, Checkpoint, Failed) may be called
// from any goroutine at any time; an Iterator belongs to one goroutine.
// Readers never block the writer: the durable end is an atomic, the chunk
// list is copy-on-write behind an atomic pointer, and each chunk is
// reference counted so Truncate and Close drop chunks without waiting for
// readers. No lock is held across I/O.
//
// # Positions
//
// A record's logical position is chunkNumber*ChunkSizeBytes + offset of its
// frame in the chunk's data (Event Store's scheme, spec
// tcp-client-protocol §4.6), so positions strictly increase. Records never
// span chunks: when a record does not fit, the chunk is sealed and the
// record goes to the start of the next chunk; the unused space at the end
// of the sealed chunk has no records, and the position of its data end
// names the same point of the log as the next chunk's start.
//
// # Files (see filenames.go)
//
//	chunk-NNNNNN.000000   chunk number NNNNNN (version 0; scavenging will add versions)
//	writer.chk            logical end of durable data
//	truncate.chk          pending truncation position, -1 when none
//	<name>.chk            named checkpoints (chaser.chk, epoch.chk, ...)
//	LOCK                  flock'ed while a process has the log open
//
// # Chunk file
//
//	+-----------------+--------------------------------------+-----------------+
//	| header 128 B    | data: ChunkSizeBytes                 | footer 128 B    |
//	+-----------------+--------------------------------------+-----------------+
//	                  | record | record | ... | (unused)      |
//
// A chunk created in place is preallocated with fallocate(KEEP_SIZE): its
// size grows with the data, and disk-full shows up at creation. With
// Options.Prealloc PreallocZeroFill (the default on the OS filesystem) the
// next chunk is prepared in the background once the writer is half-way
// through the current one (or has just sealed one), as
// chunk-NNNNNN.000000.tmp: full size, header then zeros, fsynced; roll
// renames it into place (one not finished yet is abandoned, not waited
// for: roll creates the chunk in place rather than stall a group commit).
// Writes inside written blocks need no inode update,
// so their fdatasync is cheaper (prepare.go has the figures). A zero-filled
// chunk's unused tail is zeros, which are never a record; Open removes
// leftover .tmp files and does not shrink a tail chunk whose bytes past the
// last record are all zeros. A chunk created in place (the first of a new
// log, or when no prepared one was ready) is kept zero-filled up to the
// next 256 KiB boundary past its data by the writer itself (zeroAhead, just
// before a flush's fsync, for flushes of at most 64 KiB), so its size
// changes once per 256 KiB rather than on every small flush; zeros never
// go past the data area. The footer is written once, when the chunk is
// sealed.
//
// Header (all integers little-endian):
//
//	off size
//	  0   8  magic "ESDCHUNK"
//	  8   2  format version (1)
//	 10   2  zero
//	 12   4  chunk number
//	 16   8  chunk data size (ChunkSizeBytes)
//	 24  16  chunk id (random; a rewritten chunk gets a new one)
//	 40  84  zero
//	124   4  crc32c of bytes 0..124
//
// Footer:
//
//	off size
//	  0   8  magic "ESDFOOTR"
//	  8   4  flags (bit 0: completed)
//	 12   4  zero
//	 16   8  data end: bytes of records in the chunk
//	 24   8  xxhash64 of header || data[0:data end]
//	 32  92  zero
//	124   4  crc32c of bytes 0..124
//
// # Record frame
//
//	+----------+----------+------------------+----------+
//	| len u32  | crc u32  | payload (len B)  | len u32  |
//	+----------+----------+------------------+----------+
//
// crc is crc32c (Castagnoli) over the first len field and the payload. The
// trailing len lets BackIterator walk backward. Zeroed bytes (len 0, crc 0)
// are never a record: an empty payload's crc is 0x48674bc7. Payloads are at
// most min(64 MiB, ChunkSizeBytes-12) bytes (ErrRecordTooLarge).
//
// # Checkpoint file (.chk, 48 bytes)
//
//	off size
//	  0  24  slot 0
//	 24  24  slot 1
//
//	slot: 0 4 magic "ESCK" | 4 8 value int64 | 12 8 sequence u64 | 20 4 crc32c of bytes 0..20
//
// Flush writes slot (sequence mod 2) with the next sequence, then fsyncs;
// reading takes the valid slot with the higher sequence, so a torn write
// keeps the previous value.
//
// # Durability and recovery
//
// Flush writes the buffered records, fsyncs the chunk, then writes
// writer.chk WITHOUT fsync, then publishes Durable: one fdatasync per group
// commit. writer.chk is fsynced lazily: by a timer at most
// Options.CheckpointSyncInterval (default 1 s) after a flush, off the writer
// goroutine, and after a chunk's footer is fsynced at seal, on Truncate and
// on Close. This keeps
// every guarantee because the checkpoint is only written after the data
// below it was fsynced (whatever value reaches the disk covers durable
// bytes only), and Open keeps the whole records it finds past a stale
// checkpoint (step 3). What the lazy sync gives up: records acknowledged
// after the last fsynced checkpoint are protected by their crc alone, so
// damage there is cut as a torn tail instead of being reported as
// ErrCorrupt; corruption below the fsynced checkpoint is still ErrCorrupt.
// New chunks and checkpoint files are fsynced together with their
// directory. Open:
//
//  1. Completes a pending truncation (truncate.chk != -1).
//  2. Requires every chunk before the one holding the writer checkpoint to
//     exist, have a valid header and be sealed (else ErrCorrupt), and the
//     record that ends at the checkpoint to be whole (else ErrCorrupt:
//     data declared durable is damaged).
//  3. Scans records from the writer checkpoint onwards. Whole records are
//     kept (they were written, just not yet checkpointed) and fsynced
//     before the checkpoint is advanced over them; the first torn,
//     zeroed or mismatching frame ends the log: the chunk file is truncated
//     there (stale bytes beyond could otherwise pass for records later)
//     unless everything past it is zeros (a prepared or zeroed-ahead tail,
//     kept), later chunk files are removed, and a cut that was not all
//     zeros is logged and reported by Recovery(). A sealed chunk whose scan reaches its footer's data end
//     continues into the next chunk.
//  4. Starts verifying sealed chunks' hashes in the background, newest
//     first (Stats).
//
// Reads below Durable() never see a torn frame; a checksum failure there is
// ErrCorrupt.
//
// # Reads
//
// ReadAt checks one frame in place through a read-only mapping of the chunk
// (vfs.Mappable; pread where the filesystem cannot map, or with
// Options.NoMmap) and copies the payload into the caller's scratch.
// Iterators read Options.IteratorBlockBytes at a time with pread and hand
// out payloads inside their block. Readers only touch bytes below the
// durable end, which every chunk file holds (sealed chunks are full size:
// their footer was read at open), so a mapped read never meets the end of
// a file.
//
// # Truncation
//
// Truncate (a replica whose log diverged from the master's) records the
// target in truncate.chk, lowers the durable end, removes later chunk files
// and erases the cut records and footer of the target chunk by writing
// zeros in place (never by shrinking the file, which would make mapped
// readers fault), then clears truncate.chk. Open completes a truncation
// that a crash interrupted. Readers racing a truncation get ErrTruncated.
//
// # Failures
//
// The first failed write or fsync latches: Append, Flush and Truncate
// return it (wrapped in ErrLogFailed) until the log is reopened. Running
// out of space while creating a chunk returns ErrDiskFull and changes
// nothing; reads keep working and the next Append tries again.
package tlog
