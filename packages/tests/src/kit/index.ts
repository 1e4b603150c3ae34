/**
 * @module @ledgerflow/tests/kit
 */
export {}
