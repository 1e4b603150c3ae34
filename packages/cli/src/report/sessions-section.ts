/** Each session with its runs, and each run's way through its phases (SPEC §6), failures marked where they stopped. */
import type { HandlerRun, Mutation, RunPhase } from '@ledgerflow/db'
import { duration, money } from '../format/values.js'
import { type Html, anchor, badge, formatTime, html } from './html.js'
import type { SessionView } from './load-report.js'

const PRODUCER_PHASES: readonly RunPhase[] = ['pending', 'executing', 'committed']
const CONSUMER_PHASES: readonly RunPhase[] = ['pending', 'preparing', 'prepared', 'mutating', 'mutated', 'emitting', 'committed']

/** How one phase of a run looks. */
export type PhaseMark = 'done' | 'current' | 'failed' | 'paused' | 'waiting' | 'skipped' | 'todo'

/**
 * The phases of a run with how far it got: phases behind it are done; its current phase carries its status (the run
 * failed, paused or waits there); a consumer that moved past `mutating` without a ledger row skipped the mutation.
 * Pure.
 */
export function phaseMarks(run: Pick<HandlerRun, 'handler_type' | 'phase' | 'status'>, hasLedger: boolean): Array<{ phase: RunPhase; mark: PhaseMark }> {
  const phases = run.handler_type === 'producer' ? PRODUCER_PHASES : CONSUMER_PHASES
  const at = Math.max(0, phases.indexOf(run.phase))
  return phases.map((phase, i) => {
    let mark: PhaseMark
    if (i < at) mark = 'done'
    else if (i > at) mark = 'todo'
    else if (run.status === 'committed') mark = 'done'
    else if (run.status === 'failed' || run.status === 'paused' || run.status === 'waiting') mark = run.status
    else mark = 'current'
    if (mark === 'done' && !hasLedger && (phase === 'mutating' || phase === 'mutated') && run.handler_type === 'consumer') mark = 'skipped'
    return { phase, mark }
  })
}

const SYMBOL: Record<PhaseMark, string> = { done: '', current: ' ●', failed: ' ✕', paused: ' ⏸', waiting: ' ⏳', skipped: '', todo: '' }
const TITLE: Record<PhaseMark, string> = {
  done: 'done',
  current: 'in progress (or interrupted and resumable)',
  failed: 'failed here',
  paused: 'paused here: needs a person',
  waiting: 'waiting here for a retry',
  skipped: 'skipped: no mutation was made',
  todo: 'not reached',
}

function phaseTrack(run: HandlerRun, ledger: Mutation | undefined): Html {
  const items = phaseMarks(run, ledger !== undefined).map(
    ({ phase, mark }) => html`<li class="ph-${mark}" title="${phase}: ${TITLE[mark]}">${phase}${SYMBOL[mark]}</li>`,
  )
  return html`<ol class="phases" aria-label="phases">${items}</ol>`
}

function runRow(run: HandlerRun, ledger: Mutation | undefined): Html {
  const problem = run.status === 'committed' ? '' : (run.error ?? '')
  const retry = run.status === 'waiting' && run.retry_at !== null ? `retry at ${formatTime(run.retry_at)}` : ''
  const note = problem || retry
    ? html`<tr class="run-error" data-error-of="${run.id}"><td></td><td colspan="6" class="err">${run.error_type && problem ? html`<span class="badge st-failed">${run.error_type}</span> ` : ''}${problem}${retry ? html` <span class="muted">(${retry})</span>` : ''}</td></tr>`
    : ''
  return html`<tr id="${anchor('run', run.id)}" data-run-id="${run.id}"${note ? html` class="has-error"` : ''}>
<td class="num">${run.ordinal}</td>
<td><span class="muted">${run.handler_type}</span> <strong>${run.handler_name}</strong><br><code class="muted">${run.id}</code>${run.retry_of ? html`<br><span class="muted">retries <a href="#${anchor('run', run.retry_of)}">${run.retry_of}</a></span>` : ''}</td>
<td>${phaseTrack(run, ledger)}</td>
<td>${badge(run.status)}${run.attempt > 1 ? html` <span class="muted">attempt ${run.attempt}</span>` : ''}</td>
<td class="num">${formatTime(run.start_timestamp).slice(11)}<br><span class="muted">${run.end_timestamp === null ? 'open' : duration(run.end_timestamp - run.start_timestamp)}</span></td>
<td class="num">${money(run.cost)}</td>
<td>${ledger ? html`<a href="#${anchor('mutation', ledger.id)}">${ledger.tool_namespace}.${ledger.tool_method}</a> ${badge(ledger.status)}` : html`<span class="muted">–</span>`}</td>
</tr>${note}`
}

function sessionBlock(view: SessionView, ledgerByRun: ReadonlyMap<string, Mutation>): Html {
  const { session, runs, cost } = view
  const status = session.end_timestamp === null ? 'running' : session.status
  const took = session.end_timestamp === null ? 'still open' : duration(session.end_timestamp - session.start_timestamp)
  const table = runs.length === 0
    ? html`<p class="muted" style="padding: 8px 12px; margin: 0">No runs.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th class="num">#</th><th>handler</th><th>phases</th><th>status</th><th class="num">started</th><th class="num">cost</th><th>ledger</th></tr></thead>
<tbody>${runs.map((r) => runRow(r, ledgerByRun.get(r.id)))}</tbody></table></div>`
  return html`<article class="session st-border-${status}" id="${anchor('session', session.id)}" data-session-id="${session.id}">
<header><h3><span class="mono">${session.id}</span> ${badge(status)} <span class="badge st-skipped">${session.trigger}</span>${session.budget_exhausted ? html` <span class="badge st-suspended">budget: ${session.budget_exhausted}</span>` : ''}</h3>
<div class="meta"><span>started ${formatTime(session.start_timestamp)}</span><span>${took}</span><span>${runs.length} run(s)</span><span>cost ${money(cost)}</span>${session.owner && session.end_timestamp === null ? html`<span>owner ${session.owner}</span>` : ''}</div>
${session.error ? html`<div class="alert ${session.status === 'failed' ? '' : 'warn'}">${session.error_type ? `${session.error_type}: ` : ''}${session.error}</div>` : ''}
</header>
${table}
</article>`
}

/** Renders every session, newest first. Pure. */
export function renderSessions(sessions: readonly SessionView[], ledgerByRun: ReadonlyMap<string, Mutation>, total: number): Html {
  if (sessions.length === 0) return html`<p class="muted">No sessions yet.</p>`
  const note = total > sessions.length ? html`<p class="muted">Showing the latest ${sessions.length} of ${total} sessions.</p>` : ''
  return html`${note}${[...sessions].reverse().map((s) => sessionBlock(s, ledgerByRun))}`
}
