/**
 * The PostgreSQL section (issue 7): dispatches the jobs `postgres/plan.ts` registers to their implementation in
 * `postgres/`: scale-out with worker processes, ledgerflow consumer runs, and the DBOS peer.
 */
import { type ConsumerRunParams, consumerRuns } from '../postgres/consumer-runs.js'
import { type DbosParams, dbosWorkflows } from '../postgres/dbos.js'
import { type ScaleParams, scaleOut } from '../postgres/scale-out.js'

/** Parameters of a PostgreSQL job. */
export type PostgresParams =
  | ({ case: 'scale' } & ScaleParams)
  | ({ case: 'consumer-runs' } & ConsumerRunParams)
  | ({ case: 'dbos' } & DbosParams)

/** Runs one PostgreSQL job. */
export async function postgres(params: PostgresParams): Promise<Record<string, number>> {
  switch (params.case) {
    case 'scale':
      return scaleOut(params)
    case 'consumer-runs':
      return consumerRuns(params)
    case 'dbos':
      return dbosWorkflows(params)
  }
}
