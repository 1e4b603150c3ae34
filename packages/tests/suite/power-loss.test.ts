/**
 * Power loss (issue 6): the database file and its WAL are copied at chosen instants of a run — right after every
 * `in_flight` ledger commit, and at seeded random crash points, some with a torn WAL tail — as a machine that lost
 * power would leave them (no `-shm`). Each image is reopened with the default settings, recovered and driven to the
 * end against the outside world as it was at that instant: the `in_flight` row is always there, recovery reconciles
 * it, and every item is sent exactly once.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CrashSite } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { afterAll, describe, expect, it } from 'vitest'
import { prng } from '../src/crash/prng.js'
import { type EffectLog, type ImageOptions, type TestEngine, checkInvariants, copyDatabaseImage, createTestEngine, memoryEffectLog, recordingTool } from '../src/kit/index.js'

const ITEMS = 4
const CODE = `const workflow = {
  topics: { items: {} },
  producers: {
    gen: {
      schedule: { interval: "1h" },
      publishes: ["items"],
      handler: async (state) => {
        if (state && state.n >= ${ITEMS}) return undefined
        for (let i = 0; i < ${ITEMS}; i++) await Topics.publish({ topic: "items", event: { messageId: "m" + i, payload: { i } } })
        return { n: ${ITEMS} }
      },
    },
  },
  consumers: {
    send: {
      subscribe: ["items"],
      prepare: async (state) => {
        const [e] = await Topics.peek({ topic: "items", limit: 1 })
        if (!e) return { reservations: [] }
        return { reservations: [{ topic: "items", ids: [e.messageId] }], data: { id: e.messageId, count: (state && state.count) || 0 } }
      },
      mutate: async (p) => { await Out.send({ id: p.data.id }) },
      next: async (p) => (p.data ? { count: p.data.count + 1 } : undefined),
    },
  },
};`

const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-power-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Image {
  file: string
  site: CrashSite
  /** The outside world at that instant: what had been sent. */
  world: Array<{ key: string; count: number; input: unknown }>
}

function copyOf(entries: Image['world']): EffectLog {
  const log = memoryEffectLog()
  for (const e of entries) for (let i = 0; i < e.count; i++) log.apply(e.key, e.input)
  return log
}

/** Runs the workflow once with synchronous=FULL, taking an image wherever `take` says. */
async function runTakingImages(name: string, take: (site: CrashSite, hit: number, file: string) => ImageOptions | undefined): Promise<Image[]> {
  const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation' })
  const images: Image[] = []
  let hit = 0
  let env: TestEngine | undefined
  env = await createTestEngine({
    tools: [out.tool],
    synchronous: 'FULL',
    onCrashPoint(site) {
      if (!env?.file) return
      const how = take(site, ++hit, env.file)
      if (!how) return
      const file = join(dir, `${name}-${images.length}.db`)
      copyDatabaseImage(env.file, file, how)
      images.push({ file, site, world: out.effects.entries().map((e) => ({ ...e })) })
    },
  })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Power', code: CODE })
  await env.engine.runSession('wf')
  expect(out.effects.entries()).toHaveLength(ITEMS)
  await env.close()
  return images
}

/** Reopens an image with the default settings, recovers, and drives the workflow to its end. */
async function recoverImage(image: Image) {
  const world = copyOf(image.world)
  const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation', effects: world })
  await using env = await createTestEngine({ file: image.file, synchronous: 'FULL', tools: [out.tool] })
  const ledgerAtImage = image.site.runId ? await env.db.mutations.getByRun(image.site.runId) : undefined
  await env.engine.recover({ force: true })
  for (let i = 0; i < 30; i++) {
    const [run] = await env.db.runs.listUnfinished('wf')
    const pending = (await env.db.events.countByStatus('wf')).pending ?? 0
    const produced = await env.db.handlerState.get('wf', 'gen')
    if (!run && pending === 0 && produced) break
    if (run?.status === 'waiting' && run.retry_at !== null) await env.clock.advanceTo(run.retry_at)
    await env.engine.runSession('wf', { trigger: run ? 'retry' : produced ? 'event' : 'manual' })
  }
  const events = await env.db.events.listByWorkflow('wf')
  const state = await env.db.handlerState.get('wf', 'send')
  return {
    ledgerAtImage,
    ledgerNow: ledgerAtImage ? await env.db.mutations.get(ledgerAtImage.id) : undefined,
    consumed: events.filter((e) => e.status === 'consumed').length,
    count: state?.state ? (JSON.parse(state.state) as { count: number }).count : 0,
    sent: world.entries().map((e) => (e.input as { id: string }).id).sort(),
    duplicates: out.duplicateEffects(),
    violations: await checkInvariants(env.db, { effects: [out] }),
  }
}

const EVERY_ITEM = Array.from({ length: ITEMS }, (_, i) => `m${i}`)

describe('power loss with the default synchronous=FULL', () => {
  it('opens SQLite in WAL mode with synchronous=FULL unless told otherwise', async () => {
    const db = await openDatabase({ sqlite: join(dir, 'defaults.db') })
    expect(db.native!.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.native!.pragma('synchronous', { simple: true })).toBe(2)
    await db.close()
  })

  it('never loses an in_flight row committed before the external call, and recovery reconciles it', async () => {
    const images = await runTakingImages('in-flight', (site) => (site.point === 'mutation:after-in-flight' ? { tornTailBytes: 0 } : undefined))
    expect(images).toHaveLength(ITEMS)
    for (const image of images) {
      const r = await recoverImage(image)
      expect(r.ledgerAtImage).toMatchObject({ status: 'in_flight', handler_run_id: image.site.runId })
      // The call never happened before the power went: reconciliation says not applied, a new run sends it once.
      expect(r.ledgerNow).toMatchObject({ status: 'failed' })
      expect(r.sent).toEqual(EVERY_ITEM)
      expect(r.duplicates).toEqual([])
      expect(r.consumed).toBe(ITEMS)
      expect(r.count).toBe(ITEMS)
      expect(r.violations).toEqual([])
    }
  })

  it('keeps the in_flight row behind a torn WAL tail, and finds an effect made before the power went', async () => {
    const images = await runTakingImages('torn', (site) =>
      site.point === 'mutation:after-in-flight' || site.point === 'mutation:after-call' ? { tornTailBytes: 1000 + 24 } : undefined,
    )
    expect(images).toHaveLength(2 * ITEMS)
    for (const image of images) {
      const r = await recoverImage(image)
      expect(r.ledgerAtImage).toMatchObject({ status: 'in_flight' })
      expect(r.ledgerNow?.status).toBe(image.site.point === 'mutation:after-call' ? 'applied' : 'failed')
      expect(r.sent).toEqual(EVERY_ITEM)
      expect(r.duplicates).toEqual([])
      expect(r.violations).toEqual([])
    }
  })

  it('recovers an image taken at any of 12 seeded random crash points to the clean final state', async () => {
    const random = prng(20260101)
    const chosen = new Set<number>()
    while (chosen.size < 12) chosen.add(1 + Math.floor(random() * 60))
    const images = await runTakingImages('random', (_site, hit) => (chosen.has(hit) ? { tornTailBytes: hit % 2 === 0 ? 4096 + 24 : 0 } : undefined))
    expect(images.length).toBeGreaterThanOrEqual(8)
    for (const image of images) {
      const r = await recoverImage(image)
      expect({ at: image.site, sent: r.sent, duplicates: r.duplicates, consumed: r.consumed, count: r.count, violations: r.violations }).toEqual({
        at: image.site,
        sent: EVERY_ITEM,
        duplicates: [],
        consumed: ITEMS,
        count: ITEMS,
        violations: [],
      })
    }
  })

  it('shows what FULL prevents: losing the WAL frames written since the in_flight commit loses the row, and the item is sent twice', async () => {
    // The WAL's size just before the in_flight commit: without an fsync per commit, the frames after it may never
    // reach the disk (synchronous=NORMAL syncs the WAL only at checkpoints).
    let before = 0
    const images = await runTakingImages('unsynced', (site, _hit, file) => {
      if (site.point === 'run:before-checkpoint' && site.phase === 'mutating') before = statSync(`${file}-wal`).size
      return site.point === 'mutation:after-call' ? { keepWalBytes: before } : undefined
    })
    const r = await recoverImage(images[0]!)
    expect(r.ledgerAtImage).toBeUndefined()
    expect(r.sent).toEqual(['m0', ...EVERY_ITEM])
    expect(r.violations).toContainEqual({ invariant: 3, message: expect.stringContaining('has no ledger row: it was executed without a record') })
  })
})
