import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { captureIo, runCli } from '../src/index.js'
import { FIXTURE_TOOLS, cli, cliJson, collect, openDb, relayScript, script, spawnCli, tempDir, waitForOutput } from './helpers.js'

const gated = `
const workflow = {
  producers: { slow: { schedule: { interval: "1h" }, handler: async () => { await Gate.wait({}); return { done: true } } } },
}
`

async function openSessions(dir: string): Promise<number> {
  const db = await openDb(dir)
  try {
    const row = await db.kysely.selectFrom('script_runs').select((eb) => eb.fn.countAll<number>().as('n')).where('end_timestamp', 'is', null).executeTakeFirstOrThrow()
    return Number(row.n)
  } finally {
    await db.close()
  }
}

describe('ledgerflow worker', () => {
  it('runs a scheduled producer and its consumers, then stops cleanly on SIGTERM with no open session', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript({ count: 2 }))
    await cli(dir, 'deploy', 'jobs.js')
    const worker = spawnCli(dir, ['worker', '--concurrency', '2'])
    const done = collect(worker)
    await waitForOutput(worker, /jobs: session \S+ completed/)
    worker.kill('SIGTERM')
    const r = await done
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/jobs: schedule session \S+ started/)
    expect(r.stderr).toContain('SIGTERM: stopping after the current runs')
    expect(r.stderr).toMatch(/worker stopped: 1 session, 3 runs, no session left open/)
    expect(await openSessions(dir)).toBe(0)
    expect(await cliJson(dir, 'status', 'jobs')).toMatchObject({ status: 'active', events: { consumed: 2 }, lastSession: { status: 'completed' } })
  })

  it('lets the run in flight finish when stopped, and closes its session', async () => {
    const dir = tempDir()
    script(dir, 'slow.js', gated)
    await cli(dir, 'deploy', 'slow.js')
    const worker = spawnCli(dir, ['worker'])
    const done = collect(worker)
    await waitForOutput(worker, /slow: schedule session \S+ started/)
    worker.kill('SIGTERM')
    await waitForOutput(worker, 'SIGTERM: stopping')
    writeFileSync(join(dir, 'gate.open'), '')
    const r = await done
    expect(r.code).toBe(0)
    expect(await openSessions(dir)).toBe(0)
    const runs = await cliJson<Array<{ status: string; output_state: unknown }>>(dir, 'runs', 'slow')
    expect(runs).toMatchObject([{ status: 'committed', output_state: { done: true } }])
  })

  it('exits 130 at once on a second signal', async () => {
    const dir = tempDir()
    script(dir, 'slow.js', gated)
    await cli(dir, 'deploy', 'slow.js')
    const worker = spawnCli(dir, ['worker'])
    const done = collect(worker)
    await waitForOutput(worker, /slow: schedule session \S+ started/)
    worker.kill('SIGINT')
    await waitForOutput(worker, 'SIGINT: stopping')
    worker.kill('SIGINT')
    const r = await done
    expect(r.code).toBe(130)
    expect(r.stderr).toContain('SIGINT: forced exit')
  })

  it('stops by itself with --until-idle once nothing is due', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript({ count: 3 }))
    await cli(dir, 'deploy', 'jobs.js')
    const io = captureIo({ cwd: dir })
    const code = await runCli(['--tools', FIXTURE_TOOLS, 'worker', '--until-idle'], { io, stopSignal: new AbortController().signal })
    expect(code).toBe(0)
    expect(io.stderr).toMatch(/worker stopped: 1 session, 4 runs, no session left open/)
    expect(await openSessions(dir)).toBe(0)
  })

  it("evaluates on the worker's own thread with --sandbox calling, to the same end state", async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript({ count: 3 }))
    await cli(dir, 'deploy', 'jobs.js')
    const io = captureIo({ cwd: dir })
    const code = await runCli(['--tools', FIXTURE_TOOLS, 'worker', '--until-idle', '--concurrency', '1', '--sandbox', 'calling'], {
      io,
      stopSignal: new AbortController().signal,
    })
    expect(code).toBe(0)
    expect(io.stderr).toMatch(/\(concurrency 1, sandbox on this thread\), until idle/)
    expect(io.stderr).toMatch(/worker stopped: 1 session, 4 runs, no session left open/)
    expect(await cliJson(dir, 'status', 'jobs')).toMatchObject({ status: 'active', events: { consumed: 3 }, lastSession: { status: 'completed' } })
  })

  it('refuses an unknown --sandbox before opening anything', async () => {
    const dir = tempDir()
    const io = captureIo({ cwd: dir })
    const code = await runCli(['worker', '--sandbox', 'gpu'], { io, stopSignal: new AbortController().signal })
    expect(code).not.toBe(0)
    expect(io.stderr).toBe("error: invalid_option: --sandbox must be one of thread, calling; got 'gpu'\n")
  })
})
