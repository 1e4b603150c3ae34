/**
 * Counters of the instance pools of this thread (see `instance-pool.ts` and `instance-supply.ts`), for tests and
 * diagnostics.
 */

/** Counters of the pools of this thread (for tests and diagnostics). @internal */
export const poolStats = {
  renewed: 0,
  recycled: 0,
  notReusable: 0,
  preloaded: 0,
  preloadsTaken: 0,
  preloadsUnused: 0,
  notPreloadable: 0,
  scriptImages: 0,
  scriptImagesRefused: 0,
  scriptImageLoads: 0,
}
