/** Spawning one process of a trial and collecting its messages (one JSON line each on stdout). */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { ChildCommand } from './child-bundle.js'
import type { ChildMessage, ChildPlan } from './child.js'

/** What a process of a trial said and how it ended. */
export interface ChildOutcome {
  messages: ChildMessage[]
  signal: NodeJS.Signals | null
  code: number | null
  killedByTimer: boolean
  stderr: string
}

/** Resolves the compiled child next to this module (or in `dist` when this module runs from source). */
export function childScript(): string {
  const sibling = fileURLToPath(new URL('./child.js', import.meta.url))
  if (existsSync(sibling)) return sibling
  return fileURLToPath(new URL('../../dist/crash/child.js', import.meta.url))
}

/** Runs one process of a trial; with `killAfterMs`, SIGKILLs it that long after it said it is ready. */
export function runChild(command: ChildCommand, plan: ChildPlan, killAfterMs: number | undefined): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...command.execArgv, command.script, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'pipe'] })
    const messages: ChildMessage[] = []
    let buffer = ''
    let stderr = ''
    let killedByTimer = false
    let timer: NodeJS.Timeout | undefined
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const line = buffer.slice(0, i)
        buffer = buffer.slice(i + 1)
        try {
          const message = JSON.parse(line) as ChildMessage
          messages.push(message)
          if (message.t === 'ready' && killAfterMs !== undefined) {
            timer = setTimeout(() => {
              killedByTimer = child.kill('SIGKILL')
            }, killAfterMs)
          }
        } catch {
          stderr += `${line}\n`
        }
      }
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 20_000) stderr += chunk
    })
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      resolve({ messages, signal, code, killedByTimer: killedByTimer && !messages.some((m) => m.t === 'dying' || m.t === 'done'), stderr })
    })
  })
}
