/**
 * Escape-by-default HTML building for the report. Every value interpolated into {@link html} is escaped unless it is
 * itself {@link Html} built by this module, so untrusted text (script output, payloads, errors, ids) cannot inject
 * markup: forgetting to escape is not possible, only choosing `raw` on purpose (reserved for constant CSS).
 */

/** A piece of markup that is already safe to insert. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

/** Escapes text for element content and quoted attribute values. Pure. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`)
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[]

function render(part: Part): string {
  if (part === null || part === undefined || part === false || part === true) return ''
  if (part instanceof Html) return part.value
  if (Array.isArray(part)) return part.map(render).join('')
  return escapeHtml(String(part))
}

/** Tagged template: literal parts are trusted markup; every interpolated value is escaped (arrays joined). Pure. */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] ?? ''
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '')
  return new Html(out)
}

/** Trusted markup (constants of this package only, never data). */
export function raw(markup: string): Html {
  return new Html(markup)
}

/** An id usable in `id`/`href="#…"`: the kind, then the value with anything unusual replaced. Pure. */
export function anchor(kind: string, id: string): string {
  return `${kind}-${id.replace(/[^A-Za-z0-9_.-]/g, '_')}`
}

/** A timestamp in UTC, `2026-01-01 12:00:05Z` (milliseconds when not zero). Pure. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–'
  const iso = new Date(ms).toISOString()
  return `${iso.slice(0, 10)} ${iso.endsWith('.000Z') ? iso.slice(11, 19) : iso.slice(11, 23)}Z`
}

/** Pretty JSON of a JSON column (its text as-is when it does not parse). Pure. */
export function prettyJson(text: string | null | undefined): string {
  if (text === null || text === undefined) return ''
  try {
    return JSON.stringify(JSON.parse(text), null, 2) ?? text
  } catch {
    return text
  }
}

/** Compact JSON of a JSON column, for one-line previews. Pure. */
export function compactJson(text: string | null | undefined): string {
  if (text === null || text === undefined) return ''
  try {
    return JSON.stringify(JSON.parse(text)) ?? text
  } catch {
    return text
  }
}

/** The message of a stored error: the `message` of serialized-error JSON, or the text itself. Pure. */
export function errorMessage(text: string | null | undefined): string {
  if (!text) return ''
  try {
    const parsed = JSON.parse(text) as unknown
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string') {
      return (parsed as { message: string }).message
    }
  } catch {
    // Plain text.
  }
  return text
}

const PREVIEW = 160
const FULL = 8 * 1024

/** A value cell: a one-line preview, with the whole (pretty, capped) value in a disclosure when it is longer. */
export function valueCell(text: string | null | undefined): Html {
  if (text === null || text === undefined || text === '') return html`<span class="muted">–</span>`
  const line = compactJson(text)
  if (line.length <= PREVIEW) return html`<code>${line}</code>`
  const full = prettyJson(text)
  const shown = full.length > FULL ? `${full.slice(0, FULL)}\n… (${full.length - FULL} more characters)` : full
  return html`<details><summary><code>${line.slice(0, PREVIEW)}…</code></summary><pre>${shown}</pre></details>`
}

/** A status pill; the status also names its CSS class (`st-<status>`). */
export function badge(status: string): Html {
  return html`<span class="badge st-${status.replace(/[^a-z_]/g, '')}">${status}</span>`
}
