/**
 * @module @ledgerflow/tests
 */
export const packageName = "@ledgerflow/tests"
