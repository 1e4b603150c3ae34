/**
 * A durable "outside world" for mutation tools: every applied effect is one line appended to a file and fsync'd
 * before the tool returns, so it survives the process being killed at any instant (and the machine losing power
 * after the fsync). Crash campaigns give it to a recording tool; `reconcile` reads it back the way a real tool asks
 * an outside API whether a call with a given idempotency key happened.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs'
import type { EffectLog } from './recording-tool.js'

/** A {@link EffectLog} kept in a file; close it when done. */
export interface FileEffectLog extends EffectLog, Disposable {
  readonly path: string
  close(): void
}

interface Line {
  key: string
  input: unknown
}

/** Reads every effect of an effect-log file (a torn last line, from a power loss before its fsync, is ignored). */
export function readEffectFile(path: string): Line[] {
  if (!existsSync(path)) return []
  const lines: Line[] = []
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (text.length === 0) continue
    try {
      const line = JSON.parse(text) as Line
      if (typeof line.key === 'string') lines.push(line)
    } catch {
      // A torn write: the effect was never acknowledged to anyone.
    }
  }
  return lines
}

/**
 * Opens (or creates) an append-only effect log file. One process writes it at a time; any process may open it later
 * and sees every effect acknowledged before.
 *
 * ### Examples
 * ```ts
 * const effects = fileEffectLog(join(dir, 'effects.jsonl'))
 * const send = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation', effects })
 * // ... the process is killed, a new one opens the same file: reconcile finds what was sent
 * ```
 */
export function fileEffectLog(path: string, options: { fsync?: boolean } = {}): FileEffectLog {
  const fsync = options.fsync ?? true
  const map = new Map<string, { count: number; input: unknown }>()
  const add = (key: string, input: unknown) => {
    const e = map.get(key) ?? { count: 0, input }
    e.count++
    map.set(key, e)
    return e.count
  }
  for (const line of readEffectFile(path)) add(line.key, line.input)
  let fd: number | undefined = openSync(path, 'a')
  const log: FileEffectLog = {
    path,
    apply(key, input) {
      if (fd === undefined) throw new Error(`effect log ${path} is closed`)
      // One write(2) per line: a killed process leaves whole lines; fsync before acknowledging the effect.
      writeSync(fd, `${JSON.stringify({ key, input: input ?? null })}\n`)
      if (fsync) fsyncSync(fd)
      return add(key, input)
    },
    count: (key) => map.get(key)?.count ?? 0,
    entries: () => [...map].map(([key, e]) => ({ key, ...e })),
    close() {
      if (fd !== undefined) closeSync(fd)
      fd = undefined
    },
    [Symbol.dispose]() {
      log.close()
    },
  }
  return log
}
