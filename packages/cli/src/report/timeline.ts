/** The sessions on a time axis, as inline SVG: one row per session, its runs as marks, each row linking to details. */
import { duration, money } from '../format/values.js'
import { type Html, anchor, formatTime, html } from './html.js'
import type { SessionView } from './load-report.js'

const WIDTH = 1000
const LABEL = 190
const RIGHT = 16
const TOP = 30
const ROW = 24
const BAR = 14

/** Renders the timeline. Pure. */
export function renderTimeline(sessions: readonly SessionView[], now: number): Html {
  if (sessions.length === 0) return html`<p class="muted">No sessions yet.</p>`
  const start = Math.min(...sessions.map((s) => s.session.start_timestamp))
  const end = Math.max(start + 1000, ...sessions.map((s) => s.session.end_timestamp ?? Math.max(now, s.session.start_timestamp)))
  const span = end - start
  const plot = WIDTH - LABEL - RIGHT
  const x = (t: number) => LABEL + ((t - start) / span) * plot
  const height = TOP + sessions.length * ROW + 8

  const ticks = Array.from({ length: 5 }, (_, i) => start + (span * i) / 4).map((t, i) => {
    const tx = x(t)
    const anchorAt = i === 0 ? 'start' : i === 4 ? 'end' : 'middle'
    return html`<line class="axis" x1="${tx}" y1="${TOP - 6}" x2="${tx}" y2="${height - 4}"/><text class="tick" x="${tx}" y="${TOP - 12}" text-anchor="${anchorAt}">${tickLabel(t, span)}</text>`
  })

  const rows = sessions.map(({ session, runs, cost }, i) => {
    const y = TOP + i * ROW
    const status = session.end_timestamp === null ? 'running' : session.status
    const stop = session.end_timestamp ?? Math.max(now, session.start_timestamp)
    const x0 = x(session.start_timestamp)
    const w = Math.max(4, x(stop) - x0)
    const tooltip = [
      `session ${session.id}`,
      `trigger ${session.trigger}, ${status}`,
      `started ${formatTime(session.start_timestamp)}`,
      session.end_timestamp === null ? 'still open' : `took ${duration(session.end_timestamp - session.start_timestamp)}`,
      `${runs.length} run(s), cost ${money(cost)}`,
      session.budget_exhausted ? `budget exhausted: ${session.budget_exhausted}` : '',
      session.error ? `error: ${session.error}` : '',
    ].filter(Boolean).join('\n')
    // Runs close in time (a fast session, a manual clock) are nudged apart so each mark stays visible.
    let previous = -Infinity
    const marks = runs.map((run) => {
      const cx = Math.min(WIDTH - RIGHT, Math.max(x(run.start_timestamp), x0 + 4, previous + 8))
      previous = cx
      return html`<circle class="mark ${run.status}" cx="${cx.toFixed(1)}" cy="${y + ROW / 2}" r="3.5"><title>${run.handler_type} ${run.handler_name}: ${run.phase}, ${run.status}</title></circle>`
    })
    return html`<a href="#${anchor('session', session.id)}" data-session-id="${session.id}">
<title>${tooltip}</title>
<text x="8" y="${y + ROW / 2 + 4}">${label(session.id)} · ${session.trigger}</text>
<rect class="bar ${status}" x="${x0.toFixed(1)}" y="${y + (ROW - BAR) / 2}" width="${w.toFixed(1)}" height="${BAR}" rx="3"/>
${marks}</a>`
  })

  return html`<svg class="timeline" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="Sessions on a timeline" xmlns="http://www.w3.org/2000/svg">
<defs><pattern id="lf-open" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fbefff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#8250df" stroke-width="2"/></pattern></defs>
${ticks}
${rows}
</svg>
<div class="legend"><span class="badge st-completed">completed</span><span class="badge st-failed">failed</span><span class="badge st-suspended">suspended</span><span class="badge st-running">running</span><span class="muted">· dots are runs: green committed, red failed, amber paused, blue waiting, purple active · times in UTC</span></div>`
}

function label(id: string): string {
  return id.length > 22 ? `…${id.slice(-21)}` : id
}

function tickLabel(t: number, span: number): string {
  const text = formatTime(span >= 10_000 ? Math.round(t / 1000) * 1000 : Math.round(t))
  if (span >= 2 * 86_400_000) return text.slice(0, 16)
  return text.slice(11)
}
