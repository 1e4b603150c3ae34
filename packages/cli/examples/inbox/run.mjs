#!/usr/bin/env node
// Runs the inbox example end to end with the ledgerflow CLI (in-process, the same code as the `ledgerflow` command):
// seeds a demo inbox, deploys workflow.js, runs one session, and shows the ledger and the outbox.
//
//   node examples/inbox/run.mjs [--dir <folder>]     (default folder: ./.ledgerflow/demo)
//
// Run it twice: the second run lists the same files, the engine ignores the duplicate events, nothing is rewritten.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const { runCli } = await import('@ledgerflow/cli').catch((error) => {
  console.error(`error: not_built: cannot load @ledgerflow/cli (${error.code ?? error.message}); run \`pnpm build\` first`)
  process.exit(1)
})

const here = dirname(fileURLToPath(import.meta.url))

const SAMPLES = {
  'welcome.txt': 'Welcome to ledgerflow.\nEvery side effect goes through the mutation ledger,\nso a crash never repeats it silently.\n',
  'invoice-1042.txt': 'Invoice 1042 from Acme Tools is due on the 30th.\nAmount: 1,250.00 EUR.\nPay to the usual account.\n',
  'standup.txt': 'Standup notes: the report page ships Friday.\nThe worker now stops cleanly on SIGTERM.\nNobody is blocked.\n',
}

/** Runs the example in `dir`; returns the exit code (0 when every step succeeded). */
export async function runInboxExample({ dir = '.ledgerflow/demo', cwd = process.cwd(), log = console.log } = {}) {
  const root = resolve(cwd, dir)
  const files = join(root, 'files')
  const inbox = join(files, 'inbox')
  mkdirSync(inbox, { recursive: true })
  if (readdirSync(inbox).filter((n) => n.endsWith('.txt')).length === 0) {
    for (const [name, text] of Object.entries(SAMPLES)) writeFileSync(join(inbox, name), text)
    log(`seeded ${relative(cwd, inbox) || inbox} with ${Object.keys(SAMPLES).length} notes`)
  }
  const global = ['--db', join(root, 'ledgerflow.db'), '--files-root', files]
  log(`database ${relative(cwd, join(root, 'ledgerflow.db'))}, files under ${relative(cwd, files)}/ (every command below gets --db and --files-root)\n`)

  const steps = [
    ['deploy', join(here, 'workflow.js'), '--workflow', 'inbox', '--title', 'Inbox summaries'],
    ['run', 'inbox'],
    ['mutations', 'inbox'],
    ['events', 'inbox'],
  ]
  for (const step of steps) {
    log(`$ ledgerflow ${step.map((a) => (a.startsWith('/') ? relative(cwd, a) : /\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`)
    const code = await runCli([...global, ...step])
    log('')
    if (code !== 0) {
      log(`step '${step[0]}' exited with ${code}`)
      return code
    }
  }

  const outbox = join(files, 'outbox')
  const written = existsSync(outbox) ? readdirSync(outbox).filter((n) => n.endsWith('.summary.txt')).sort() : []
  log(`outbox (${relative(cwd, outbox)}/): ${written.length} summaries`)
  for (const name of written) log(`  ${name}: ${readFileSync(join(outbox, name), 'utf8').split('\n')[0]}`)
  log(`\nadd a .txt file to ${relative(cwd, inbox)}/ and run this again: only the new file is summarized.`)
  return 0
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--dir')
  process.exitCode = await runInboxExample(at > 0 ? { dir: process.argv[at + 1] } : {})
}
