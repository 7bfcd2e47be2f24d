import { ConfigError } from './errors';

/**
 * Resource limits for untrusted configs: what `build` and `loadModule` may allocate. Every size
 * in a config is bounded twice: each integer field by `MAX_CONFIG_INTEGER` (tfjs shapes are
 * int32), and what the sizes allocate together by `maxParameters` and `maxBytes`, checked before
 * anything is allocated (docs/untrusted-files.md).
 */
export interface ResourceLimits {
  /** Most parameters (elements of every weight) one build may create. Default 2^29. */
  maxParameters?: number;
  /** Most bytes of parameters plus buffers (tables, frequencies) one build may create. Default 2^31. */
  maxBytes?: number;
}

export const DEFAULT_MAX_PARAMETERS = 2 ** 29;
export const DEFAULT_MAX_BYTES = 2 ** 31;
/** The upper bound of every integer field in a registered config. */
export const MAX_CONFIG_INTEGER = 2 ** 31 - 1;

/** What a config will allocate: parameter elements, and bytes of parameters plus buffers. */
export interface Estimate {
  parameters: number;
  bytes: number;
}

/** Float32 parameters plus `bufferBytes` of non-parameter tables. */
export function estimateOf(parameters: number, bufferBytes = 0): Estimate {
  return { parameters, bytes: parameters * 4 + bufferBytes };
}

/** Sums estimates (children of a composite block). */
export function sumEstimates(...parts: readonly Estimate[]): Estimate {
  return parts.reduce(
    (a, b) => ({ parameters: a.parameters + b.parameters, bytes: a.bytes + b.bytes }),
    {
      parameters: 0,
      bytes: 0,
    },
  );
}

/** `n` copies of an estimate (stacked layers, experts). */
export function timesEstimate(n: number, e: Estimate): Estimate {
  return { parameters: n * e.parameters, bytes: n * e.bytes };
}

export function resolveLimits(limits: ResourceLimits = {}): Required<ResourceLimits> {
  const out = {
    maxParameters: limits.maxParameters ?? DEFAULT_MAX_PARAMETERS,
    maxBytes: limits.maxBytes ?? DEFAULT_MAX_BYTES,
  };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value !== 'number' || !(value >= 0)) {
      throw new ConfigError('limits', key, 'a number >= 0', String(value));
    }
  }
  return out;
}

/** Readable byte counts for messages: 4294967296 (4.0 GiB). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return `${bytes} bytes (overflows)`;
  if (!Number.isSafeInteger(bytes)) return `${bytes.toExponential(3)} bytes (beyond 2^53)`;
  const gib = bytes / 2 ** 30;
  return gib >= 0.1 ? `${bytes} bytes (${gib.toFixed(1)} GiB)` : `${bytes} bytes`;
}

/**
 * Throws a ConfigError naming `path`, the `field` that drives the size, its value and the limit
 * when `estimate` exceeds `limits`.
 */
export function checkEstimate(
  block: string,
  path: string,
  field: string | undefined,
  value: unknown,
  estimate: Estimate,
  limits: Required<ResourceLimits>,
): void {
  const at = field === undefined ? path : `${path}.${field}`;
  const given = field === undefined ? '' : `${field} ${String(value)} `;
  if (!(estimate.parameters <= limits.maxParameters)) {
    throw new ConfigError(
      block,
      at,
      `at most maxParameters ${limits.maxParameters} (raise it with { maxParameters })`,
      `${given}asking for ${estimate.parameters} parameters`,
    );
  }
  if (!(estimate.bytes <= limits.maxBytes)) {
    throw new ConfigError(
      block,
      at,
      `at most maxBytes ${limits.maxBytes} (raise it with { maxBytes })`,
      `${given}asking for ${formatBytes(estimate.bytes)}`,
    );
  }
}

// The budget of the build in progress (null outside build): a backstop for blocks whose
// estimate is missing or low, checked before each weight or table is allocated.
interface Budget {
  limits: Required<ResourceLimits>;
  parameters: number;
  bytes: number;
}
let current: Budget | null = null;

/** The limits of the build in progress, if any: nested builds inherit them. */
export function activeLimits(): Required<ResourceLimits> | undefined {
  return current?.limits;
}

/** Runs `make` with an allocation budget; nested calls share the outermost budget. */
export function withBudget<T>(limits: Required<ResourceLimits>, make: () => T): T {
  if (current) return make();
  current = { limits, parameters: 0, bytes: 0 };
  try {
    return make();
  } finally {
    current = null;
  }
}

/**
 * Counts `elements` of `bytesPerElement` against the current build's budget (the default limits
 * outside a build) and throws a ConfigError, before anything is allocated, when it would exceed
 * it. Call it before allocating a weight (initTensor does) or a table a constructor computes.
 */
export function reserve(
  block: string,
  what: string,
  elements: number,
  options: { bytesPerElement?: number; parameter?: boolean; commit?: boolean } = {},
): void {
  const { bytesPerElement = 4, parameter = true, commit = true } = options;
  const budget = current ?? { limits: resolveLimits(), parameters: 0, bytes: 0 };
  const parameters = budget.parameters + (parameter ? elements : 0);
  const bytes = budget.bytes + elements * bytesPerElement;
  checkEstimate(block, what, undefined, undefined, { parameters, bytes }, budget.limits);
  if (!commit) return;
  budget.parameters = parameters;
  budget.bytes = bytes;
}
