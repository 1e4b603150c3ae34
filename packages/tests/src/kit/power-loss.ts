/**
 * Power-loss images of a SQLite database: the main file and its write-ahead log copied as they are at one instant,
 * without the `-shm` index (shared memory does not survive a power loss; SQLite rebuilds it from the WAL). With
 * `synchronous=FULL` every commit has reached the disk before it returns, so an image taken right after a commit is
 * what a machine that lost power at that instant would find on its disk. An optional torn tail appends half a WAL
 * frame, as a transaction being written when the power went would leave; SQLite must ignore it.
 */
import { appendFileSync, copyFileSync, existsSync, rmSync, truncateSync, writeFileSync } from 'node:fs'

/** Options of {@link copyDatabaseImage}. */
export interface ImageOptions {
  /** Append this many bytes of a half-written WAL frame (default 0: none). */
  tornTailBytes?: number
  /**
   * Keep only this many bytes of the WAL: the frames a disk never received because nobody asked for an fsync (what
   * `synchronous=NORMAL` risks). Default: all of it (every commit was synced, as with `FULL`).
   */
  keepWalBytes?: number
}

/**
 * Copies `file` and `file-wal` to `dest` and `dest-wal` (no `-shm`), synchronously, so no commit can interleave.
 *
 * ### Examples
 * ```ts
 * env.engine = ... // in a fault hook, right after the in_flight commit:
 * copyDatabaseImage(env.file, join(dir, 'image-1.db'), { tornTailBytes: 1500 })
 * const image = await createTestEngine({ file: join(dir, 'image-1.db'), synchronous: 'FULL', tools })
 * await image.engine.recover({ force: true })
 * ```
 */
export function copyDatabaseImage(file: string, dest: string, options: ImageOptions = {}): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${dest}${suffix}`, { force: true })
  copyFileSync(file, dest)
  if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${dest}-wal`)
  else writeFileSync(`${dest}-wal`, '')
  if (options.keepWalBytes !== undefined) truncateSync(`${dest}-wal`, options.keepWalBytes)
  const torn = options.tornTailBytes ?? 0
  if (torn > 0) {
    // A frame header (24 bytes) and part of a page, with salts that match nothing: its checksum cannot validate.
    const bytes = Buffer.alloc(torn)
    for (let i = 0; i < torn; i++) bytes[i] = (i * 131 + 7) & 0xff
    appendFileSync(`${dest}-wal`, bytes)
  }
}
