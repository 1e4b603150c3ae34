/**
 * @module @ledgerflow/tests
 *
 * The shared integration suite lives in `suite/` (private); the published part is the testing kit,
 * `@ledgerflow/tests/kit`.
 */
export * from "./kit/index.js"
