import { describe, expect, it } from 'vitest'
import { cli, cliJson, relayScript, script, tempDir } from './helpers.js'

const url = process.env.DATABASE_URL

describe.skipIf(!url)('ledgerflow --postgres (set DATABASE_URL to run)', () => {
  it('deploys and runs a workflow on PostgreSQL', async () => {
    const dir = tempDir()
    const id = `cli-pg-${Date.now().toString(36)}`
    script(dir, 'jobs.js', relayScript({ count: 2 }))
    expect(await cliJson(dir, '--postgres', url!, 'init')).toMatchObject({ dialect: 'postgres' })
    expect((await cli(dir, '--postgres', url!, 'deploy', 'jobs.js', '--workflow', id)).code).toBe(0)
    expect((await cli(dir, '--postgres', url!, 'run', id)).code).toBe(0)
    expect(await cliJson(dir, '--postgres', url!, 'status', id)).toMatchObject({ status: 'active', events: { consumed: 2 } })
  })
})
