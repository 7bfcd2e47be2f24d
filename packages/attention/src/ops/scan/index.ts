export {
  linearRecurrence,
  type LinearRecurrenceOptions,
  type LinearRecurrenceResult,
} from './linear-recurrence';
export {
  logSumExpScan,
  type LogSumExpScanOptions,
  type LogSumExpScanResult,
  type LogSumExpState,
} from './log-sum-exp';
export {
  selectiveScan,
  type SelectiveScanOptions,
  type SelectiveScanResult,
} from './selective-scan';
export {
  latentMixtureChunks,
  latentMixtureGated,
  type LatentMixtureChunksResult,
} from './latent-mixture';
export { latentMixtureProducts } from './latent-mixture-products';
