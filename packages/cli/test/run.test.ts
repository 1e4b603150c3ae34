import { describe, expect, it } from 'vitest'
import { cli, cliJson, relayScript, script, spawnCliSync, tempDir } from './helpers.js'

describe('ledgerflow run', () => {
  it('exits 0 for a completed session and prints its progress and summary', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript({ count: 2 }))
    await cli(dir, 'deploy', 'jobs.js')
    const r = await spawnCliSync(dir, ['run', 'jobs'])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/✓ \S+ +producer make +committed .* 2 published/)
    expect(r.stderr.match(/consumer work +committed .* Note\.write applied/g)).toHaveLength(2)
    expect(r.stdout).toMatch(/^session \S+ completed in /)
    expect(r.stdout).toContain('runs:      3 (1 producer, 2 consumer)')
    expect(r.stdout).toContain('events:    2 published, 0 duplicates ignored')
    expect(r.stdout).toContain('mutations: 2 applied')
  })

  it('exits 1 for a failed session, with the failure in one error line', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript({ producerThrows: true }))
    await cli(dir, 'deploy', 'jobs.js')
    const r = await spawnCliSync(dir, ['run', 'jobs'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error: session_failed: logic: .*producer broke/m)
    expect(r.stderr).toContain('next: fix the script, then: ledgerflow deploy <script.js> --workflow jobs && ledgerflow retry jobs')
  })

  it('exits 2 for a suspended session (a run paused for a person)', async () => {
    const dir = tempDir()
    script(dir, 'locked.js', `const workflow = { producers: { p: { schedule: { interval: "1h" }, handler: async () => { await Locked.read({}) } } } }`)
    await cli(dir, 'deploy', 'locked.js')
    const r = await spawnCliSync(dir, ['run', 'locked'])
    expect(r.code).toBe(2)
    expect(r.stdout).toContain('session')
    expect(r.stdout).toContain('suspended')
    expect(r.stderr).toContain('next: fix the credentials or rights, then: ledgerflow resume locked')
  })

  it('stops after the iteration budget and says so', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript({ count: 3 }))
    await cli(dir, 'deploy', 'jobs.js')
    const result = await cliJson<{ status: string; budgetExhausted: string; totals: { runs: { consumer: number } } }>(dir, 'run', 'jobs', '--max-iterations', '1')
    expect(result).toMatchObject({ status: 'completed', budgetExhausted: 'iterations', totals: { runs: { consumer: 1 } } })
  })

  it('refuses a workflow that does not exist and an invalid budget', async () => {
    const dir = tempDir()
    expect(await cli(dir, 'run', 'nope')).toMatchObject({ code: 1, stderr: "error: workflow_not_found: workflow 'nope' not found\n" })
    expect(await cli(dir, 'run', 'nope', '--max-iterations', 'lots')).toMatchObject({
      code: 1,
      stderr: "error: invalid_option: --max-iterations must be a positive integer, got 'lots'\n",
    })
  })
})
