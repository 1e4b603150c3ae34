/**
 * Every migration, by name. Names are zero-padded and sort in order; migrations are forward-only and never edited
 * once landed. Static imports only: no filesystem lookups, so bundlers and `dist` work the same.
 */
import type { Migration } from 'kysely'
import { migration0001 } from './0001-initial.js'

export const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  '0001-initial': migration0001,
})

/** The name of the newest migration this code knows. */
export const LATEST_MIGRATION = Object.keys(migrations).sort().at(-1)!
