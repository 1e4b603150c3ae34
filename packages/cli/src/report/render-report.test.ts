import { NotFoundError } from '@ledgerflow/agent'
import { createTestEngine } from '@ledgerflow/tests/kit'
import { describe, expect, it } from 'vitest'
import { escapeHtml, html, valueCell } from './html.js'
import { renderReport } from './render-report.js'
import { type PhaseMark, phaseMarks } from './sessions-section.js'
import { HOSTILE_BODY, HOSTILE_TITLE, reportScenario } from './test-helpers/report-scenario.js'

describe('renderReport', () => {
  it('shows every session, run, ledger row and event of the workflow', async () => {
    const { env, workflowId } = await reportScenario()
    await using _ = env
    const page = await renderReport(env.db, workflowId, { now: env.clock.now() })

    const sessions = await env.db.sessions.listByWorkflow(workflowId)
    expect(sessions).toHaveLength(3)
    for (const s of sessions) {
      expect(page).toContain(`<article class="session st-border-${s.status}" id="session-${s.id}" data-session-id="${s.id}">`)
      expect(page).toContain(`<a href="#session-${s.id}" data-session-id="${s.id}">`) // its timeline row
    }
    for (const r of await env.db.runs.listByWorkflow(workflowId)) expect(page).toContain(`data-run-id="${r.id}"`)
    const ledger = await env.db.mutations.listByWorkflow(workflowId)
    expect(ledger.map((m) => m.status).sort()).toEqual(['applied', 'applied', 'applied', 'failed', 'failed'])
    for (const m of ledger) {
      expect(page).toContain(`data-mutation-id="${m.id}"`)
      expect(page).toContain(`<code>${m.idempotency_key}</code>`)
    }
    for (const e of await env.db.events.listByWorkflow(workflowId)) expect(page).toContain(`data-event-id="${e.id}"`)
  })

  it('shows the workflow status with its error, and each failed session and run with theirs', async () => {
    const { env, workflowId } = await reportScenario()
    await using _ = env
    const page = await renderReport(env.db, workflowId, { now: env.clock.now() })

    expect(page).toMatch(/<span class="badge st-error">error<\/span>/)
    expect(page).toContain('<div class="alert " id="workflow-error"><strong>Workflow error (logic):</strong>')
    expect(page).toContain('mailbox &#34;carol@example.com&#34; does not exist')
    expect(page).toContain(escapeHtml('mutation not applied: SMTP timeout <b>bold</b>'))
    expect(page).toMatch(/class="ph-failed" title="mutating: failed here">mutating ✕<\/li>/)
  })

  it('escapes untrusted text everywhere: titles, payloads, results, errors and ids', async () => {
    const { env, workflowId } = await reportScenario()
    await using _ = env
    const page = await renderReport(env.db, workflowId, { now: env.clock.now() })

    expect(page).not.toMatch(/<script/i)
    expect(page).not.toMatch(/<img/i)
    expect(page).not.toMatch(/<em>|<b>/)
    expect(page).not.toMatch(/<[a-z][^>]*\son[a-z]+\s*=/i) // no tag carries an event-handler attribute
    expect(page).toContain(escapeHtml(HOSTILE_TITLE))
    expect(page).toContain(escapeHtml('onerror=\\"window.__pwned = 2\\"'))
    expect(page).toContain(`<title>ledgerflow · ${escapeHtml('Mail replies <em>demo</em>')} (mail-replies)</title>`)
    expect(page).toContain(escapeHtml(JSON.stringify(HOSTILE_BODY)))
  })

  it('is self-contained: no script, no external resource, and a policy that forbids both', async () => {
    const { env, workflowId } = await reportScenario()
    await using _ = env
    const page = await renderReport(env.db, workflowId, { now: env.clock.now() })

    expect(page).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;`)
    expect(page).toContain('script-src &#39;none&#39;')
    expect(page.replaceAll('xmlns="http://www.w3.org/2000/svg"', '')).not.toMatch(/https?:\/\//)
    expect(page).not.toMatch(/<link|<script|<iframe|<img|<object|<embed|@import|url\((?!#)/i)
    expect(page).not.toMatch(/<[a-z][^>]*\s(src|href)="(?!#)/i) // links only to anchors of the page
  })

  it('shows the cost of each session and the total over all runs', async () => {
    const { env, workflowId } = await reportScenario()
    await using _ = env
    const page = await renderReport(env.db, workflowId, { now: env.clock.now() })

    // Inbox.list costs 200 per call and Email.send 1500 per call: two polls and five sends.
    const sessions = (await env.db.sessions.listByWorkflow(workflowId)).reverse()
    const live = await Promise.all(sessions.map((s) => env.engine.sessionCost(s.id)))
    expect(live).toEqual([4700, 1500, 1700])
    sessions.forEach((s, i) => expect(page).toMatch(new RegExp(`data-cost-session-id="${s.id}">[^]*?<td class="num">\\$0\\.00${live[i]}`)))
    expect(page).toContain('<th class="num" id="total-cost">$0.007900</th>')
    // The first session closed while its retried run still waited; that run spent later, and the closed session's
    // stored cost followed it, so the stored figures agree with the live ones and no "at close" note is shown.
    expect(sessions.map((s) => s.cost)).toEqual(live)
    expect(page).not.toContain('at close')
  })

  it('shows an open session as running, measured up to now', async () => {
    await using env = await createTestEngine()
    await env.engine.deployWorkflow({
      id: 'wf',
      title: 'Open',
      code: 'const workflow = { topics: {}, producers: { p: { schedule: { interval: "1h" }, publishes: [], handler: async () => 1 } }, consumers: {} }',
    })
    env.crashAt({ point: 'run:after-create' })
    await expect(env.engine.runSession('wf')).rejects.toThrow(/simulated crash/)
    const page = await renderReport(env.db, 'wf', { now: env.clock.now() + 90_000 })

    expect(page).toMatch(/<article class="session st-border-running"/)
    expect(page).toContain('still open')
    expect(page).toMatch(/class="ph-current" title="executing: in progress \(or interrupted and resumable\)">executing ●/)
    expect(page).toContain('<rect class="bar running"')
  })

  it('renders a workflow that never ran', async () => {
    await using env = await createTestEngine()
    await env.engine.deployWorkflow({
      id: 'idle',
      title: 'Idle',
      code: 'const workflow = { topics: {}, producers: { p: { schedule: { interval: "1h" }, publishes: [], handler: async () => 1 } }, consumers: {} }',
    })
    const page = await renderReport(env.db, 'idle', { now: env.clock.now() })
    expect(page).toContain('No sessions yet.')
    expect(page).toContain('No mutations recorded.')
    expect(page).toContain('No events.')
    expect(page).toContain('Generated by ledgerflow at 2026-01-01 12:00:00Z.')
  })

  it('throws NotFoundError for a workflow that does not exist', async () => {
    await using env = await createTestEngine()
    await expect(renderReport(env.db, 'nope')).rejects.toSatisfy((e) => NotFoundError.isInstance(e) && e instanceof Error && /nope/.test(e.message))
  })
})

describe('phaseMarks', () => {
  const marks = (type: 'producer' | 'consumer', phase: string, status: string, hasLedger = true) =>
    phaseMarks({ handler_type: type, phase: phase as never, status: status as never }, hasLedger).map((p) => `${p.phase}:${p.mark}`)

  it.each<[string, string, string, boolean, string[]]>([
    ['producer', 'committed', 'committed', false, ['pending:done', 'executing:done', 'committed:done']],
    ['producer', 'executing', 'failed', false, ['pending:done', 'executing:failed', 'committed:todo']],
    ['consumer', 'prepared', 'waiting', false, ['pending:done', 'preparing:done', 'prepared:waiting', 'mutating:todo', 'mutated:todo', 'emitting:todo', 'committed:todo']],
    ['consumer', 'mutating', 'paused', true, ['pending:done', 'preparing:done', 'prepared:done', 'mutating:paused', 'mutated:todo', 'emitting:todo', 'committed:todo']],
    ['consumer', 'emitting', 'active', true, ['pending:done', 'preparing:done', 'prepared:done', 'mutating:done', 'mutated:done', 'emitting:current', 'committed:todo']],
    ['consumer', 'committed', 'committed', false, ['pending:done', 'preparing:done', 'prepared:done', 'mutating:skipped', 'mutated:skipped', 'emitting:done', 'committed:done']],
  ])('marks a %s at %s (%s, ledger row: %s)', (type, phase, status, hasLedger, expected) => {
    expect(marks(type as 'producer' | 'consumer', phase, status, hasLedger)).toEqual(expected)
  })

  it('has a mark for every state a run can stop in', () => {
    const all = new Set<PhaseMark>()
    for (const status of ['active', 'waiting', 'paused', 'failed', 'committed']) {
      for (const m of phaseMarks({ handler_type: 'consumer', phase: 'prepared', status: status as never }, false)) all.add(m.mark)
    }
    expect([...all].sort()).toEqual(['current', 'done', 'failed', 'paused', 'todo', 'waiting'])
  })
})

describe('html', () => {
  it('escapes every interpolated value and joins arrays', () => {
    const value = `<a href="x" onclick='y'>&\``
    expect(html`<p title="${value}">${[value, 1, null, undefined, false]}</p>`.value).toBe(
      '<p title="&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#96;">&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#96;1</p>',
    )
  })

  it('keeps markup built by html itself', () => {
    expect(html`<div>${html`<b>${'<i>'}</b>`}</div>`.value).toBe('<div><b>&#60;i&#62;</b></div>')
  })

  it('shows a long value as an escaped preview with the whole value behind a disclosure', () => {
    const text = JSON.stringify({ html: '<script>x</script>'.repeat(20) })
    const cell = valueCell(text).value
    expect(cell).toMatch(/^<details><summary><code>/)
    expect(cell).not.toContain('<script>')
  })
})
