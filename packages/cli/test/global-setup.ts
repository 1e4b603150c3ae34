/**
 * Builds the package when `dist` is missing or older than `src`: some tests spawn `dist/bin.js` and run the
 * examples, which import the built package. (`turbo run test` builds first; this covers `vitest` run directly.)
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const pkg = fileURLToPath(new URL('..', import.meta.url))

function newest(dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

export default function setup(): void {
  let built = 0
  try {
    built = statSync(join(pkg, 'dist', 'bin.js')).mtimeMs
  } catch {
    // not built yet
  }
  if (built >= newest(join(pkg, 'src'))) return
  execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: pkg, stdio: 'inherit' })
}
