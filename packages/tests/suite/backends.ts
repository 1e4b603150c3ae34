/**
 * The backends the engine suite runs on: SQLite always, PostgreSQL when `DATABASE_URL` is set (CI sets it). Every
 * PostgreSQL test engine gets a schema of its own, dropped when it closes, so runs on one server never collide.
 */
import { describe, it } from 'vitest'
import type { TestEngineOptions } from '../src/kit/index.js'

/** Options that put a test engine on one backend; spread them into `createTestEngine` or `pipelineEnv`. */
export type Backend = Required<Pick<TestEngineOptions, 'backend'>> & Pick<TestEngineOptions, 'url'>

/** The PostgreSQL server of this run, if any. */
export const POSTGRES_URL: string | undefined = process.env.DATABASE_URL || undefined

/** What a skipped PostgreSQL variant says. */
export const POSTGRES_SKIP_MESSAGE = 'PostgreSQL tests skipped: DATABASE_URL is not set'

export const SQLITE: Backend = { backend: 'sqlite' }

/**
 * Registers `body` once per backend, as `<name> [sqlite]` and `<name> [postgres]`. Without `DATABASE_URL` the
 * PostgreSQL variant is a visibly skipped describe that says why.
 *
 * ### Examples
 * ```ts
 * describeBackends('pause and resume', (backend) => {
 *   it('stops the session at its next checkpoint', async () => {
 *     await using env = await pipelineEnv(backend)
 *     ...
 *   })
 * })
 * ```
 */
export function describeBackends(name: string, body: (backend: Backend) => void): void {
  describe(`${name} [sqlite]`, () => body(SQLITE))
  const url = POSTGRES_URL
  if (url === undefined) {
    describe(`${name} [postgres]`, () => {
      it.skip(POSTGRES_SKIP_MESSAGE, () => {})
    })
    return
  }
  describe(`${name} [postgres]`, () => body({ backend: 'postgres', url }))
}
