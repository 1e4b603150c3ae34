/**
 * `DEBUG=ledgerflow:*` logging (SPEC §12) without a dependency: engine events are written to stderr, one line each,
 * under the namespace `ledgerflow:<first part of the event name>` (`session:start` → `ledgerflow:session`,
 * `scheduler:tick:empty` → `ledgerflow:scheduler`). `DEBUG` takes the usual comma- or space-separated patterns,
 * where `*` matches anything and a leading `-` excludes: `DEBUG=ledgerflow:*,-ledgerflow:scheduler`.
 */
import type { EngineEmitter, EngineEventName } from './events.js'

/** Options of {@link attachDebugLogger}. */
export interface DebugLoggerOptions {
  /** The `DEBUG` patterns. Default: `process.env.DEBUG`. */
  patterns?: string | undefined
  /** Where lines go. Default: stderr. */
  write?: (line: string) => void
  /** Time of each line (epoch ms). Default: `Date.now`. */
  now?: () => number
}

/** The debug namespace of an engine event. Pure. */
export function debugNamespace(event: EngineEventName): string {
  return `ledgerflow:${event.split(':')[0]}`
}

/** Whether `namespace` is enabled by `DEBUG`-style patterns; exclusions win. Pure. */
export function debugEnabled(namespace: string, patterns: string | undefined): boolean {
  if (!patterns) return false
  let enabled = false
  for (const raw of patterns.split(/[\s,]+/)) {
    if (raw === '') continue
    const exclude = raw.startsWith('-')
    const pattern = exclude ? raw.slice(1) : raw
    if (!globMatch(pattern, namespace)) continue
    if (exclude) return false
    enabled = true
  }
  return enabled
}

function globMatch(pattern: string, text: string): boolean {
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')
  return new RegExp(`^${source}$`).test(text)
}

/** One log line: time, namespace, event and its payload as `key=value` pairs. Pure. */
export function formatDebugLine(event: EngineEventName, payload: unknown, now: number): string {
  const fields =
    typeof payload === 'object' && payload !== null
      ? Object.entries(payload)
          .filter(([, value]) => value !== undefined)
          .map(([key, value]) => `${key}=${formatValue(value)}`)
      : []
  return `${new Date(now).toISOString()} ${debugNamespace(event)} ${event}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}`
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(`${value.name}: ${value.message}`)
  if (typeof value === 'string') return /^[\w.:/@-]+$/.test(value) ? value : JSON.stringify(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * Writes every engine event whose namespace `DEBUG` enables; returns a function that detaches it. Subscribes
 * nothing when no `ledgerflow:` namespace is enabled, so the cost is zero unless asked for.
 *
 * ### Examples
 * ```ts
 * // DEBUG=ledgerflow:session,ledgerflow:run node worker.js
 * const detach = attachDebugLogger(engine.events)
 * ```
 */
export function attachDebugLogger(events: EngineEmitter, options: DebugLoggerOptions = {}): () => void {
  const patterns = 'patterns' in options ? options.patterns : process.env.DEBUG
  if (!patterns || !/ledgerflow|\*/.test(patterns)) return () => {}
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`))
  const now = options.now ?? Date.now
  const enabled = new Map<string, boolean>()
  return events.onAny((event, payload) => {
    const namespace = debugNamespace(event)
    let on = enabled.get(namespace)
    if (on === undefined) enabled.set(namespace, (on = debugEnabled(namespace, patterns)))
    if (on) write(formatDebugLine(event, payload, now()))
  })
}
