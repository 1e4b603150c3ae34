/** `ledgerflow report <id> --html out.html`: writes the self-contained HTML report of a workflow. */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, relative, resolve } from 'node:path'
import type { CliApp } from '../app.js'
import { CliError } from '../errors.js'
import { renderReport } from '../report/render-report.js'
import { EXIT, getWorkflow, printJson } from './shared.js'

/** Renders the report and writes it to `--html`. */
export async function reportCommand(app: CliApp, workflowId: string, options: { html?: string; json?: boolean }): Promise<number> {
  if (!options.html) throw new CliError('invalid_option', 'report needs --html <file>')
  const { db } = await app.open()
  await getWorkflow(db, workflowId)
  const html = await renderReport(db, workflowId)
  const file = resolve(app.io.cwd, options.html)
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, html, 'utf8')
  const bytes = Buffer.byteLength(html)
  if (options.json) printJson(app.io, { workflowId, file, bytes })
  else app.io.out(`wrote ${relative(app.io.cwd, file) || file} (${Math.ceil(bytes / 1024)} KiB)\n`)
  return EXIT.ok
}
