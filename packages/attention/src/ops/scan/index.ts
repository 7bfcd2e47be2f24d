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
