/** `ledgerflow init`: creates the database (SQLite file and folder by default) and migrates it. */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { DEFAULT_DB, type CliApp } from '../app.js'
import { EXIT, printJson } from './shared.js'

/** Options of `init`. */
export interface InitOptions {
  json?: boolean
}

/** Creates and migrates the database; says where it is and what to do next. */
export async function initCommand(app: CliApp, options: InitOptions = {}): Promise<number> {
  const file = app.options.postgres ? undefined : resolve(app.io.cwd, app.options.db ?? DEFAULT_DB)
  const existed = file ? existsSync(file) : true
  const { db, location } = await app.open()
  const info = { location, dialect: db.dialect, schemaVersion: db.schemaVersion ?? null, created: !existed }
  if (options.json) {
    printJson(app.io, info)
    return EXIT.ok
  }
  app.io.out(`${existed ? 'ready' : 'created'}: ${location} (${db.dialect}, schema ${db.schemaVersion ?? 'unknown'})\n`)
  app.io.out('next: ledgerflow deploy workflow.js --workflow my-flow && ledgerflow run my-flow\n')
  return EXIT.ok
}
