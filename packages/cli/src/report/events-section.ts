/** Events by status and topic (counts), then the latest events themselves. */
import type { EventStatus } from '@ledgerflow/db'
import { type Html, anchor, badge, formatTime, html, valueCell } from './html.js'
import type { ReportData } from './load-report.js'

const STATUSES: readonly EventStatus[] = ['pending', 'reserved', 'consumed', 'skipped', 'dead']

function countsByTopic(data: ReportData): Html {
  const rows = data.eventsByTopic.map(
    (t) => html`<tr data-topic="${t.topic}"><td><strong>${t.topic}</strong></td>${STATUSES.map((s) => html`<td class="num">${t.counts[s] ? t.counts[s] : html`<span class="muted">0</span>`}</td>`)}<td class="num"><strong>${t.total}</strong></td></tr>`,
  )
  return html`<div class="table-wrap"><table>
<thead><tr><th>topic</th>${STATUSES.map((s) => html`<th class="num">${badge(s)}</th>`)}<th class="num">total</th></tr></thead>
<tbody>${rows}</tbody>
<tfoot><tr><th>all topics</th>${STATUSES.map((s) => html`<th class="num">${data.eventsByStatus[s] ?? 0}</th>`)}<th class="num">${data.eventCount}</th></tr></tfoot>
</table></div>`
}

function eventRows(data: ReportData): Html {
  const runLink = (id: string | null) => (id ? html`<a href="#${anchor('run', id)}"><code>${id}</code></a>` : html`<span class="muted">external</span>`)
  const rows = data.events.map(
    (e) => html`<tr data-event-id="${e.id}">
<td class="num">${e.sequence}</td>
<td>${e.topic}</td>
<td><code>${e.message_id}</code></td>
<td>${e.title}</td>
<td>${badge(e.status)}${e.attempt_number > 1 ? html` <span class="muted">attempt ${e.attempt_number}</span>` : ''}</td>
<td>${runLink(e.created_by_run_id)}</td>
<td>${e.reserved_by_run_id ? runLink(e.reserved_by_run_id) : html`<span class="muted">–</span>`}</td>
<td>${valueCell(e.payload)}</td>
<td class="num">${formatTime(e.created_at)}</td>
</tr>`,
  )
  return html`<div class="table-wrap"><table>
<thead><tr><th class="num">seq</th><th>topic</th><th>message id</th><th>title</th><th>status</th><th>published by</th><th>used by</th><th>payload</th><th class="num">created</th></tr></thead>
<tbody>${rows}</tbody></table></div>`
}

/** Renders the events section. Pure. */
export function renderEvents(data: ReportData): Html {
  if (data.eventCount === 0) return html`<p class="muted">No events.</p>`
  const note = data.eventCount > data.events.length ? html`<p class="muted">The table shows the latest ${data.events.length} of ${data.eventCount} events.</p>` : ''
  return html`<div class="chips">${STATUSES.filter((s) => data.eventsByStatus[s]).map((s) => html`${badge(s)}<span>${data.eventsByStatus[s]}</span>`)}</div>
${countsByTopic(data)}
<h3 style="margin: 16px 0 8px">Events</h3>${note}
${eventRows(data)}`
}
