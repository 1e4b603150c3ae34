import { describe, expect, it } from 'vitest'
import { cli, cliJson, relayScript, script, spawnCliSync, tempDir } from './helpers.js'

const broken = `const workflow = {
  producers: {
    p: {
      schedule: { interval: "5m" },
      handler: async () => { return 1 + },
    },
  },
}
`

describe('ledgerflow deploy', () => {
  it('deploys a script, names the workflow after the file and lists its handlers', async () => {
    const dir = tempDir()
    const file = script(dir, 'jobs.js', relayScript())
    const r = await cli(dir, 'deploy', file)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('deployed jobs v1 (active script, workflow active)')
    expect(r.stdout).toContain('producer make (every 1h) → job')
    expect(r.stdout).toContain('consumer work ← job (prepare/mutate/next)')
  })

  it('shows the file, line and column of a syntax error and exits 1', async () => {
    const dir = tempDir()
    script(dir, 'broken.js', broken)
    const r = await spawnCliSync(dir, ['deploy', 'broken.js', '--workflow', 'b'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error: workflow_invalid: SyntaxError: .* at workflow\.js:5:41$/m)
    expect(r.stderr).toContain('  --> broken.js:5:41')
    expect(r.stderr).toContain('5 |       handler: async () => { return 1 + },')
    expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+:\d+\)?\n/) // no stack trace
  })

  it('explains a configuration error of the script in one line', async () => {
    const dir = tempDir()
    script(dir, 'bad.js', 'const workflow = { producers: { p: { schedule: { interval: "5x" }, handler: async () => {} } } }')
    const r = await cli(dir, 'deploy', 'bad.js')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error: workflow_invalid: Producer 'p': schedule.interval "5x" is not a valid interval/)
  })

  it('reports the position of a validation error in --json output', async () => {
    const dir = tempDir()
    script(dir, 'broken.js', broken)
    const r = await cli(dir, 'deploy', 'broken.js', '--json')
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'workflow_invalid', location: { line: 5, column: 41 } } })
  })

  it('stores a new version when the code changes and does nothing when it does not', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript())
    expect((await cli(dir, 'deploy', 'jobs.js')).code).toBe(0)
    expect((await cli(dir, 'deploy', 'jobs.js')).stdout).toContain('unchanged: jobs v1 is already active')
    script(dir, 'jobs.js', relayScript({ count: 3 }))
    const v2 = await cliJson<{ version: number; unchanged: boolean }>(dir, 'deploy', 'jobs.js')
    expect(v2).toMatchObject({ version: 2, unchanged: false })
  })

  it('stores a version without activating it with --no-activate', async () => {
    const dir = tempDir()
    script(dir, 'jobs.js', relayScript())
    const r = await cliJson<{ status: string; activated: boolean }>(dir, 'deploy', 'jobs.js', '--workflow', 'later', '--no-activate')
    expect(r).toMatchObject({ status: 'draft', activated: false })
  })

  it('fails with one line when the script file does not exist', async () => {
    const r = await cli(tempDir(), 'deploy', 'missing.js')
    expect(r).toMatchObject({ code: 1, stderr: 'error: script_not_found: cannot read missing.js: ENOENT\n' })
  })
})
