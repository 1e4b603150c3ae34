import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openDatabase } from '@ledgerflow/db'
import { afterAll, afterEach } from 'vitest'
import { captureIo, runCli } from '../src/index.js'

/** The built executable (tests that spawn need `pnpm build` first, which `turbo test` does). */
export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
/** The package folder. */
export const PACKAGE = fileURLToPath(new URL('..', import.meta.url))
/** The tool module of the tests (`--tools`). */
export const FIXTURE_TOOLS = fileURLToPath(new URL('./fixtures/tools.mjs', import.meta.url))

const dirs: string[] = []
const suiteDirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
afterAll(() => {
  for (const d of suiteDirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A temporary working folder, removed after the test (or, with `suite`, after the file's last test). */
export function tempDir(options: { suite?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-cli-'))
  ;(options.suite ? suiteDirs : dirs).push(dir)
  return dir
}

/** Writes a script into `dir` and returns its path. */
export function script(dir: string, name: string, code: string): string {
  const file = join(dir, name)
  writeFileSync(file, code)
  return file
}

/** Runs the CLI in-process in `cwd` (default database there); returns the exit code and the output. */
export async function cli(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo({ cwd })
  const code = await runCli(['--tools', FIXTURE_TOOLS, ...args], { io })
  return { code, stdout: io.stdout, stderr: io.stderr }
}

/** Runs the CLI and parses its stdout as one JSON document. */
export async function cliJson<T = unknown>(cwd: string, ...args: string[]): Promise<T> {
  const r = await cli(cwd, ...args, '--json')
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** Spawns `node dist/bin.js` in `cwd`. */
export function spawnCli(cwd: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, '--tools', FIXTURE_TOOLS, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
}

/** Spawns the CLI and waits for it to exit. */
export function spawnCliSync(cwd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(cwd, args)
  return collect(child)
}

/** Collects a child's output until it exits. */
export function collect(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/** Resolves when `text` appears in the child's stdout or stderr. */
export function waitForOutput(child: ChildProcess, text: string | RegExp): Promise<void> {
  let seen = ''
  return new Promise((resolve, reject) => {
    const check = (c: Buffer) => {
      seen += c.toString()
      if (typeof text === 'string' ? seen.includes(text) : text.test(seen)) resolve()
    }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.on('close', () => reject(new Error(`exited before printing ${String(text)}:\n${seen}`)))
  })
}

/** Opens the default database of `cwd` for assertions. */
export function openDb(cwd: string) {
  return openDatabase({ sqlite: join(cwd, '.ledgerflow', 'ledgerflow.db') })
}

/** A workflow: a producer publishing `count` events and a consumer that calls `mutation` for each. */
export function relayScript(options: { count?: number; mutation?: string; producerThrows?: boolean; consumerThrows?: boolean } = {}): string {
  const count = options.count ?? 2
  return `
const workflow = {
  topics: { "job": {} },
  producers: {
    make: {
      schedule: { interval: "1h" },
      publishes: ["job"],
      handler: async () => {
        ${options.producerThrows ? 'throw new Error("producer broke")' : ''}
        for (let i = 1; i <= ${count}; i++) await Topics.publish({ topic: "job", event: { messageId: "job-" + i, title: "Job " + i, payload: { i } } })
        console.log("made ${count} jobs")
      },
    },
  },
  consumers: {
    work: {
      subscribe: ["job"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "job", limit: 1 })
        if (!e) return { reservations: [] }
        return { reservations: [{ topic: "job", ids: [e.messageId] }], data: e.payload, ui: { title: "Work on " + e.title } }
      },
      mutate: async (p) => {
        ${options.consumerThrows ? 'throw new Error("consumer broke")' : ''}
        await ${options.mutation ?? 'Note.write'}({ i: p.data.i })
      },
      next: async (p, r) => ({ last: p.data.i, status: r.status }),
    },
  },
}
`
}
