/**
 * The report in a real browser: headless Chromium (Debian's package, driven by playwright-core) opens the page from a
 * file, every session and every ledger row must be visible, nothing may load from the network or run as script, and
 * a full-page screenshot is kept as a CI artifact. Skipped, with a message, where Chromium is not installed.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { type BrowserContext, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestEngine } from '@ledgerflow/tests/kit'
import { renderReport } from './render-report.js'
import { HOSTILE_TITLE, reportScenario } from './test-helpers/report-scenario.js'

/** Debian's package; `LEDGERFLOW_CHROMIUM` points elsewhere. */
const CHROMIUM = process.env.LEDGERFLOW_CHROMIUM ?? '/usr/bin/chromium'
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const OUTPUT = join(import.meta.dirname, '..', '..', 'test-output')
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) {
  console.warn(`SKIPPED: the report browser test needs Chromium at ${CHROMIUM} (apt-get install chromium); it is not installed here.`)
}

describe.skipIf(!hasChromium)('report in headless Chromium', () => {
  let env: TestEngine
  let workflowId: string
  let context: BrowserContext
  let profile: string
  let file: string

  beforeAll(async () => {
    ;({ env, workflowId } = await reportScenario())
    mkdirSync(OUTPUT, { recursive: true })
    file = join(OUTPUT, 'report.html')
    writeFileSync(file, await renderReport(env.db, workflowId, { now: env.clock.now() }))
    profile = mkdtempSync(join(tmpdir(), 'ledgerflow-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
    })
  })

  afterAll(async () => {
    await context?.close()
    if (profile) rmSync(profile, { recursive: true, force: true })
    await env?.close()
  })

  async function open() {
    const page = await context.newPage()
    const requests: string[] = []
    const problems: string[] = []
    const dialogs: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text())
    })
    page.on('pageerror', (e) => problems.push(e.message))
    page.on('dialog', (d) => {
      dialogs.push(d.message())
      void d.dismiss()
    })
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' })
    return { page, requests, problems, dialogs }
  }

  it('shows every session, in the timeline and as a section with its runs', async () => {
    const { page } = await open()
    const sessions = await env.db.sessions.listByWorkflow(workflowId)
    expect(sessions).toHaveLength(3)
    for (const s of sessions) {
      const section = page.locator(`article[data-session-id="${s.id}"]`)
      expect(await section.isVisible(), `session ${s.id}`).toBe(true)
      expect(await section.locator('header').innerText()).toContain(s.id)
      expect(await section.locator('header').innerText()).toContain(s.status)
      expect(await page.locator(`svg.timeline a[data-session-id="${s.id}"] rect.bar`).isVisible()).toBe(true)
      for (const run of await env.db.runs.listBySession(s.id)) {
        const row = section.locator(`tr[data-run-id="${run.id}"]`)
        expect(await row.isVisible(), `run ${run.id}`).toBe(true)
        expect(await row.innerText()).toContain(run.handler_name)
      }
    }
    await page.close()
  })

  it('shows every ledger row with its tool, status, idempotency key and title', async () => {
    const { page } = await open()
    const ledger = await env.db.mutations.listByWorkflow(workflowId)
    expect(ledger).toHaveLength(5)
    for (const m of ledger) {
      const row = page.locator(`#ledger tr[data-mutation-id="${m.id}"]`)
      await row.scrollIntoViewIfNeeded()
      expect(await row.isVisible(), `ledger row ${m.id}`).toBe(true)
      const text = await row.innerText()
      for (const part of [`${m.tool_namespace}.${m.tool_method}`, m.status, m.idempotency_key, m.ui_title!]) expect(text).toContain(part)
    }
    await page.close()
  })

  it('shows hostile text as text and runs none of it', async () => {
    const { page, dialogs, problems } = await open()
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined()
    expect(dialogs).toEqual([])
    expect(await page.locator('script, img, iframe, object, embed').count()).toBe(0)
    expect(await page.getByText(HOSTILE_TITLE, { exact: true }).first().isVisible()).toBe(true)
    expect(await page.title()).toBe('ledgerflow · Mail replies <em>demo</em> (mail-replies)')
    expect(problems).toEqual([])
    await page.close()
  })

  it('loads nothing but the page itself', async () => {
    const { page, requests } = await open()
    expect(requests).toEqual([pathToFileURL(file).href])
    await page.close()
  })

  it('shows the workflow error, event counts and the total cost, and saves a screenshot', async () => {
    const { page } = await open()
    expect(await page.locator('#workflow-error').innerText()).toMatch(/Workflow error \(logic\): .*does not exist/)
    expect(await page.locator('#events tfoot').innerText()).toMatch(/all topics\s+4\s+0\s+3\s+0\s+0\s+7/)
    expect(await page.locator('#total-cost').innerText()).toBe('$0.007900')
    const shot = join(OUTPUT, 'report.png')
    await page.screenshot({ path: shot, fullPage: true })
    expect(existsSync(shot)).toBe(true)
    await page.close()
  })
})
