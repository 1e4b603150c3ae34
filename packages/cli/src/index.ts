/**
 * @module @ledgerflow/cli
 */
export const packageName = "@ledgerflow/cli"
