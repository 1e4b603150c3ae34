/** The mutation ledger: every external side effect, its idempotency key, and what came back. */
import type { Mutation } from '@ledgerflow/db'
import { type Html, anchor, badge, errorMessage, formatTime, html, valueCell } from './html.js'

function outcome(m: Mutation): Html {
  if (m.error !== null && m.status !== 'applied') {
    return html`<div class="err">${m.error_type ? html`<span class="badge st-failed">${m.error_type}</span> ` : ''}${errorMessage(m.error)}</div>`
  }
  return valueCell(m.result)
}

function row(m: Mutation, sessionOfRun: ReadonlyMap<string, string>): Html {
  const session = sessionOfRun.get(m.handler_run_id)
  const resolved = m.resolved_by ? html`<br><span class="muted">resolved by ${m.resolved_by} at ${formatTime(m.resolved_at)}</span>` : ''
  const reconciled = m.reconcile_attempts > 0 ? html`<br><span class="muted">${m.reconcile_attempts} reconcile attempt(s)</span>` : ''
  return html`<tr id="${anchor('mutation', m.id)}" data-mutation-id="${m.id}">
<td><strong>${m.tool_namespace}.${m.tool_method}</strong><br><code class="muted">${m.id}</code></td>
<td>${badge(m.status)}${resolved}${reconciled}</td>
<td>${m.ui_title ?? html`<span class="muted">–</span>`}</td>
<td><code>${m.idempotency_key}</code></td>
<td><a href="#${anchor('run', m.handler_run_id)}"><code>${m.handler_run_id}</code></a>${session ? html`<br><a class="muted" href="#${anchor('session', session)}">${session}</a>` : ''}</td>
<td>${valueCell(m.params)}</td>
<td>${outcome(m)}</td>
<td class="num">${formatTime(m.created_at)}${m.updated_at !== m.created_at ? html`<br><span class="muted">updated ${formatTime(m.updated_at).slice(11)}</span>` : ''}</td>
</tr>`
}

/** Renders the ledger table, oldest first. Pure. */
export function renderLedger(mutations: readonly Mutation[], sessionOfRun: ReadonlyMap<string, string>, total: number): Html {
  if (mutations.length === 0) return html`<p class="muted">No mutations recorded.</p>`
  const counts = new Map<string, number>()
  for (const m of mutations) counts.set(m.status, (counts.get(m.status) ?? 0) + 1)
  const note = total > mutations.length ? html`<p class="muted">Showing the latest ${mutations.length} of ${total} ledger rows.</p>` : ''
  return html`<div class="chips">${[...counts].map(([status, n]) => html`${badge(status)}<span>${n}</span>`)}</div>${note}
<div class="table-wrap"><table>
<thead><tr><th>tool</th><th>status</th><th>title</th><th>idempotency key</th><th>run / session</th><th>input</th><th>result / error</th><th class="num">recorded</th></tr></thead>
<tbody>${mutations.map((m) => row(m, sessionOfRun))}</tbody></table></div>`
}
