import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { captureIo, runCli } from '../src/index.js'
import { BIN, collect, tempDir } from './helpers.js'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')
const EXAMPLES = join(ROOT, 'packages', 'cli', 'examples', 'readme')

/** Fenced code blocks of the README: language, `title="…"` attribute (if any) and text. */
function blocks(markdown: string): Array<{ lang: string; title: string | undefined; code: string }> {
  const found: Array<{ lang: string; title: string | undefined; code: string }> = []
  for (const m of markdown.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const title = /title="([^"]+)"/.exec(m[2]!)?.[1]
    found.push({ lang: m[1]!, title, code: m[3]! })
  }
  return found
}

function node(args: string[], cwd: string) {
  return collect(spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }))
}

function orders(dir: string) {
  mkdirSync(join(dir, 'orders'))
  writeFileSync(join(dir, 'orders', 'a.json'), JSON.stringify({ id: 'A1', total: 30, customer: 'Alice' }))
  writeFileSync(join(dir, 'orders', 'b.json'), JSON.stringify({ id: 'B2', total: 12, customer: 'Bob' }))
}

describe('README code examples', () => {
  it('keeps the first lines: the two commands for a fresh machine', () => {
    expect(README.split('\n').slice(0, 6).join('\n')).toBe(
      '# ledgerflow\n\n```bash\nnpm install -g pnpm@10.34.9 && pnpm install --frozen-lockfile && pnpm build && pnpm start\npnpm test\n```',
    )
  })

  it('gives every JavaScript block a title naming the example file it is, with the same text', () => {
    const code = blocks(README).filter((b) => ['js', 'ts', 'mjs', 'javascript', 'typescript'].includes(b.lang))
    expect(code.length).toBeGreaterThanOrEqual(4)
    for (const block of code) {
      expect(block.title, `a ${block.lang} block without title:\n${block.code.slice(0, 200)}`).toBeDefined()
      expect(block.code, block.title).toBe(readFileSync(join(ROOT, block.title!), 'utf8'))
    }
  })

  it('runs the script example with the CLI and the custom tool module, announcing each order once', async () => {
    const dir = tempDir()
    orders(dir)
    const tools = ['--tools', join(EXAMPLES, 'tools.mjs')]
    const inProcess = async (...args: string[]) => {
      const io = captureIo({ cwd: dir })
      return { code: await runCli([...tools, ...args], { io }), stdout: io.stdout }
    }
    expect((await inProcess('deploy', join(EXAMPLES, 'workflow.js'), '--workflow', 'orders')).code).toBe(0)
    const first = await node([BIN, ...tools, 'run', 'orders'], dir)
    expect(first.code).toBe(0)
    expect(first.stdout).toContain('mutations: 2 applied')
    expect((await inProcess('run', 'orders')).stdout).toContain('2 duplicates ignored')
    const chat = readFileSync(join(dir, 'chat.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string })
    expect(chat.map((m) => m.text)).toEqual(['New order A1: 30 EUR from Alice', 'New order B2: 12 EUR from Bob'])
  })

  it('runs the programmatic API example', async () => {
    const dir = tempDir()
    orders(dir)
    const r = await node([join(EXAMPLES, 'api.mjs')], dir)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout.match(/^applied Chat\.post \(mut_\w+\)$/gm)).toHaveLength(2)
    expect(r.stdout).toContain('session completed, cost 0 microdollars')
  })
})
