import { beforeAll, describe, expect, it } from 'vitest'
import { cli, cliJson, relayScript, script, tempDir } from './helpers.js'

let dir: string

beforeAll(async () => {
  dir = tempDir({ suite: true })
  script(dir, 'jobs.js', relayScript({ count: 2 }))
  await cli(dir, 'deploy', 'jobs.js')
  await cli(dir, 'run', 'jobs')
})

describe('ledgerflow status', () => {
  it('lists every workflow with its status, version and pending events', async () => {
    const r = await cli(dir, 'status')
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n')[0]).toMatch(/^WORKFLOW +TITLE +STATUS +VER +PENDING +LAST SESSION +NEXT RUN +ERROR$/)
    expect(r.stdout).toMatch(/^jobs +jobs +active +v1 +0 +completed (just now|\d+s ago) +in /m)
  })

  it('shows one workflow in detail, and as JSON', async () => {
    expect((await cli(dir, 'status', 'jobs')).stdout).toMatch(/^events: +2 consumed$/m)
    const s = await cliJson<{ id: string; status: string; version: number; events: Record<string, number>; schedules: unknown[] }>(dir, 'status', 'jobs')
    expect(s).toMatchObject({ id: 'jobs', status: 'active', version: 1, events: { consumed: 2 }, schedules: [{ producer: 'make', kind: 'interval', expression: '1h' }] })
    expect(await cliJson(dir, 'status')).toHaveLength(1)
  })
})

describe('ledgerflow sessions, runs, events, mutations, logs', () => {
  it('lists sessions as an aligned table and as JSON', async () => {
    const r = await cli(dir, 'sessions', 'jobs')
    expect(r.stdout).toMatch(/^SESSION +TRIGGER +STATUS +RUNS +COST +STARTED +TOOK +NOTE$/m)
    expect(r.stdout).toMatch(/^ses_\w+ +manual +completed +3 +\$0 /m)
    const sessions = await cliJson<Array<{ status: string; handler_run_count: number; producers: string[] }>>(dir, 'sessions', 'jobs')
    expect(sessions).toMatchObject([{ status: 'completed', handler_run_count: 3, producers: ['make'] }])
  })

  it('lists runs of the workflow and of one session given by its short id', async () => {
    const runs = await cliJson<Array<{ handler_name: string; status: string; script_run_id: string }>>(dir, 'runs', 'jobs')
    expect(runs.map((r) => `${r.handler_name}:${r.status}`)).toEqual(['make:committed', 'work:committed', 'work:committed'])
    const short = (await cli(dir, 'sessions', 'jobs')).stdout.split('\n')[1]!.split(/\s+/)[0]!
    const r = await cli(dir, 'runs', 'jobs', '--session', short)
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n')).toHaveLength(4)
    expect(r.stdout).toMatch(/consumer work +committed +committed +1 +\$0/)
  })

  it('lists events with a status filter and refuses an unknown status', async () => {
    const consumed = await cliJson<Array<{ message_id: string; topic: string; payload: unknown }>>(dir, 'events', 'jobs', '--status', 'consumed')
    expect(consumed.map((e) => [e.message_id, e.topic, e.payload])).toEqual([
      ['job-1', 'job', { i: 1 }],
      ['job-2', 'job', { i: 2 }],
    ])
    expect(await cliJson(dir, 'events', 'jobs', '--status', 'pending')).toEqual([])
    expect((await cli(dir, 'events', 'jobs', '--status', 'done')).stderr).toBe(
      "error: invalid_option: --status must be one of pending, reserved, consumed, skipped, dead; got 'done'\n",
    )
  })

  it('lists the mutation ledger with tool, status, title and result', async () => {
    const r = await cli(dir, 'mutations', 'jobs')
    expect(r.stdout).toMatch(/^mut_\w+ +run_\w+ +Note\.write +applied +Work on Job 1 +\{"noted":1\}/m)
    const rows = await cliJson<Array<{ status: string; params: unknown; result: unknown; idempotency_key: string }>>(dir, 'mutations', 'jobs', '--status', 'applied')
    expect(rows).toHaveLength(2)
    expect(rows[0]).toMatchObject({ status: 'applied', params: { i: 1 }, result: { noted: 1 }, idempotency_key: expect.stringMatching(/^lf-mut_/) })
  })

  it('prints the log lines of a run given by its short id', async () => {
    const runs = await cliJson<Array<{ id: string; handler_name: string }>>(dir, 'runs', 'jobs')
    const producer = runs.find((r) => r.handler_name === 'make')!
    const short = `run_${producer.id.slice(-8)}`
    const r = await cli(dir, 'logs', short)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} +executing +log +made 2 jobs$/m)
    expect(await cliJson(dir, 'logs', producer.id)).toMatchObject([{ level: 'log', message: 'made 2 jobs' }])
    expect((await cli(dir, 'logs', 'run_zzzzzzzz')).stderr).toBe("error: run_not_found: run 'run_zzzzzzzz' not found\n")
  })
})
