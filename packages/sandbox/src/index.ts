/**
 * @module @ledgerflow/sandbox
 */
export const packageName = "@ledgerflow/sandbox"
