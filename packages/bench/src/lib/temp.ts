/** Fresh database files per run: a private temporary directory, removed afterwards. */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A temporary directory for one job. */
export interface TempDir {
  readonly path: string
  /** A file path inside the directory. */
  file(name: string): string
  /** Copies a template database (and nothing else: templates are checkpointed, without WAL files). */
  copyTemplate(template: string, name: string): string
  remove(): void
}

/** Creates a fresh temporary directory under `LEDGERFLOW_BENCH_TMP` or the OS temp directory. */
export function tempDir(prefix = 'ledgerflow-bench-'): TempDir {
  const root = process.env.LEDGERFLOW_BENCH_TMP ?? tmpdir()
  const path = mkdtempSync(join(root, prefix))
  return {
    path,
    file: (name) => join(path, name),
    copyTemplate(template, name) {
      if (!existsSync(template)) throw new Error(`template database ${template} does not exist`)
      const target = join(path, name)
      copyFileSync(template, target)
      return target
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  }
}
