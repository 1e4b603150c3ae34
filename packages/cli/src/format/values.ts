/** Small value formatters for human output: short ids, relative times, durations, money. Pure. */

/**
 * A short form of an engine id: the kind prefix and the last 8 characters (the random part), e.g.
 * `run_9f2c41d0`. Ids of 14 characters or fewer are shown whole. Commands accept the short form too.
 */
export function shortId(id: string | null | undefined): string {
  if (!id) return '-'
  if (id.length <= 14) return id
  const underscore = id.indexOf('_')
  const prefix = underscore > 0 && underscore <= 4 ? id.slice(0, underscore + 1) : ''
  return `${prefix}${id.slice(-8)}`
}

/** A duration in ms as `850ms`, `12.3s`, `4m05s`, `2h10m`, `3d4h`. Pure. */
export function duration(ms: number): string {
  const abs = Math.abs(ms)
  if (abs < 1000) return `${Math.round(abs)}ms`
  if (abs < 60_000) return `${(abs / 1000).toFixed(abs < 10_000 ? 2 : 1)}s`
  const s = Math.floor(abs / 1000)
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`
}

/** A time relative to `now`: `just now`, `12s ago`, `in 4m`. Pure. */
export function ago(timestamp: number | null | undefined, now: number): string {
  if (timestamp === null || timestamp === undefined) return '-'
  const delta = now - timestamp
  if (Math.abs(delta) < 1000) return 'just now'
  const text = duration(delta).replace(/^(\d+(?:\.\d+)?[a-z]+).*$/, '$1').replace(/\.\d+s$/, 's')
  return delta >= 0 ? `${text} ago` : `in ${text}`
}

/** Microdollars as dollars: `$0`, `$0.000120`, `$1.25`. Pure. */
export function money(microdollars: number | null | undefined): string {
  const m = microdollars ?? 0
  if (m === 0) return '$0'
  if (m >= 10_000) return `$${(m / 1_000_000).toFixed(2)}`
  return `$${(m / 1_000_000).toFixed(6)}`
}

/** A JSON column's text, compact and cut for a table cell. Pure. */
export function compactJson(text: string | null | undefined): string {
  if (text === null || text === undefined) return '-'
  try {
    return JSON.stringify(JSON.parse(text))
  } catch {
    return text
  }
}
