import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cli, cliJson, relayScript, script, tempDir } from './helpers.js'

type Row = { id: string; status: string; resolved_by?: string | null }

/** A workflow whose one mutation loses its answer: the run pauses with the ledger row indeterminate. */
async function parkedMutation() {
  const dir = tempDir()
  script(dir, 'lost.js', relayScript({ count: 1, mutation: 'Lost.send' }))
  await cli(dir, 'deploy', 'lost.js')
  expect((await cli(dir, 'run', 'lost')).code).toBe(2)
  const [mutation] = await cliJson<Row[]>(dir, 'mutations', 'lost', '--status', 'indeterminate')
  return { dir, mutation: mutation! }
}

describe('ledgerflow resolve', () => {
  it.each([
    ['applied', 'consumed', 'applied'],
    ['skip', 'skipped', 'skipped'],
    ['not_applied', 'pending', 'failed'],
  ])('settles an unknown outcome as %s: the event ends %s', async (resolution, eventStatus, ledgerStatus) => {
    const { dir, mutation } = await parkedMutation()
    expect((await cliJson<{ status: string }>(dir, 'status', 'lost')).status).toBe('paused')
    const short = `mut_${mutation.id.slice(-8)}`
    const r = await cli(dir, 'resolve', short, resolution, ...(resolution === 'applied' ? ['--result', '{"sent":true}'] : []))
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`resolved as ${ledgerStatus}`)
    expect(r.stdout).toContain('workflow lost is active again')
    if (resolution !== 'not_applied') expect((await cli(dir, 'run', 'lost', '--max-iterations', '1')).code).toBe(0)
    const [event] = await cliJson<Row[]>(dir, 'events', 'lost')
    expect(event!.status).toBe(eventStatus)
    const [ledger] = await cliJson<Row[]>(dir, 'mutations', 'lost')
    expect(ledger).toMatchObject({ status: ledgerStatus, resolved_by: expect.stringMatching(/^cli/) })
  })

  it('refuses to resolve a mutation that is not indeterminate, and a bad resolution', async () => {
    const { dir, mutation } = await parkedMutation()
    await cli(dir, 'resolve', mutation.id, 'skip')
    expect(await cli(dir, 'resolve', mutation.id, 'applied')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: illegal_state: Mutation '.*' is skipped/) })
    expect((await cli(dir, 'resolve', mutation.id, 'maybe')).stderr).toBe(
      "error: invalid_option: the resolution must be one of applied, not_applied, skip; got 'maybe'\n",
    )
  })
})

describe('ledgerflow pause, resume, retry', () => {
  it('pauses a workflow so it does not run, and resumes it', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript())
    await cli(dir, 'deploy', 'jobs.js')
    expect((await cli(dir, 'pause', 'jobs')).stdout).toBe('workflow jobs is paused\n')
    const refused = await cli(dir, 'run', 'jobs')
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^error: workflow_not_active: /)
    expect(await cliJson(dir, 'resume', 'jobs')).toEqual({ workflowId: 'jobs', status: 'active' })
    expect((await cli(dir, 'run', 'jobs')).code).toBe(0)
  })

  it('retries a failed workflow after a fix is deployed', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript({ producerThrows: true }))
    await cli(dir, 'deploy', 'jobs.js')
    expect((await cli(dir, 'run', 'jobs')).code).toBe(1)
    expect(await cliJson(dir, 'status', 'jobs')).toMatchObject({ status: 'error', errorType: 'logic', error: expect.stringContaining('producer broke') })
    script(dir, 'jobs.js', relayScript())
    expect((await cli(dir, 'deploy', 'jobs.js')).stderr).toContain('note: the workflow is error; after this fix run: ledgerflow retry jobs')
    const r = await cli(dir, 'retry', 'jobs')
    expect(r.code).toBe(0)
    expect(await cliJson(dir, 'status', 'jobs')).toMatchObject({ status: 'active', events: { consumed: 2 } })
  })
})

describe('ledgerflow requeue', () => {
  it('puts a dead event back to pending so a fixed consumer handles it', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript({ count: 1, consumerThrows: true }))
    await cli(dir, 'deploy', 'jobs.js')
    await cli(dir, 'run', 'jobs')
    let dead: Row[] = []
    for (let attempt = 0; attempt < 8 && dead.length === 0; attempt++) {
      await cli(dir, 'retry', 'jobs')
      dead = await cliJson<Row[]>(dir, 'events', 'jobs', '--status', 'dead')
    }
    expect(dead).toHaveLength(1)
    script(dir, 'jobs.js', relayScript({ count: 1 }))
    await cli(dir, 'deploy', 'jobs.js')
    expect((await cli(dir, 'requeue', `evt_${dead[0]!.id.slice(-8)}`)).stdout).toMatch(/^event evt_\w+ is pending again$/m)
    expect((await cli(dir, 'retry', 'jobs')).code).toBe(0)
    expect((await cliJson<Row[]>(dir, 'events', 'jobs')).map((e) => e.status)).toEqual(['consumed'])
    expect((await cli(dir, 'requeue', dead[0]!.id)).stderr).toMatch(/^error: illegal_state: Event '.*' is consumed; only dead events can be requeued/)
  })
})

describe('ledgerflow publish', () => {
  it('publishes an external event once and ignores the same message id again', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript())
    await cli(dir, 'deploy', 'jobs.js')
    const first = await cli(dir, 'publish', 'jobs', 'job', '--message-id', 'ext-1', '--title', 'From outside', '--payload', '{"i":99}')
    expect(first.stdout).toMatch(/^published ext-1 to job as evt_\w+$/m)
    expect((await cli(dir, 'publish', 'jobs', 'job', '--message-id', 'ext-1')).stdout).toBe('message ext-1 was already published to job; ignored\n')
    expect(await cliJson(dir, 'events', 'jobs')).toMatchObject([{ message_id: 'ext-1', title: 'From outside', payload: { i: 99 }, status: 'pending' }])
    expect((await cli(dir, 'publish', 'jobs', 'nope', '--message-id', 'x')).stderr).toBe("error: unknown_topic: publish: workflow 'jobs' has no topic 'nope'\n")
    expect((await cli(dir, 'publish', 'jobs', 'job', '--message-id', 'x', '--payload', '{bad')).stderr).toMatch(/^error: invalid_json: --payload is not valid JSON/)
  })
})

describe('ledgerflow report', () => {
  it('writes the HTML report of a workflow to the given file', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript())
    await cli(dir, 'deploy', 'jobs.js')
    await cli(dir, 'run', 'jobs')
    const r = await cli(dir, 'report', 'jobs', '--html', 'out/report.html')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^wrote out\/report\.html \(\d+ KiB\)$/m)
    expect(existsSync(join(dir, 'out', 'report.html'))).toBe(true)
    expect(readFileSync(join(dir, 'out', 'report.html'), 'utf8')).toMatch(/<html|<!doctype html/i)
    expect((await cli(dir, 'report', 'jobs')).stderr).toBe("error: required option '--html <file>' not specified\n")
  })
})
