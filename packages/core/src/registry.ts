import { z } from 'zod';
import { AttnkitError, ConfigError, RegistryError, withArgument } from './errors';
import { describe } from './checks';
import { disposeOnThrow, type Module, type ModuleOptions, type TypedConfig } from './module';
import type { EntryInfo } from './named-registry';
import {
  type Estimate,
  type ResourceLimits,
  MAX_CONFIG_INTEGER,
  activeLimits,
  checkEstimate,
  resolveLimits,
  withBudget,
} from './limits';
import { DEFAULT_JSON_MAX_DEPTH, valueDepth } from './safe-json';
import type { AnyConfig, UncheckedConfig } from './config-types';

/** Builds a module from its validated config. */
export type Factory<C extends TypedConfig = TypedConfig> = (
  config: C,
  options: ModuleOptions,
) => Module;

interface Entry {
  factory: Factory<never>;
  schema: z.ZodType;
  category: string;
  info: EntryInfo;
  deprecated?: string;
  estimate?: (config: never) => Estimate;
}

const entries = new Map<string, Entry>();

export interface RegisterOptions {
  /** Groups types for listing: 'layer', 'norm', 'mixer', 'feedforward', 'model', ... */
  category?: string;
  /** Paper, equation, one-line summary and a small example config, for the docs. */
  info?: EntryInfo;
  /**
   * Marks an old name kept for saved configs: what to use instead ("use 'x'"). It still builds,
   * warns once per process, and is left out of `registeredTypes()` (so listings and suites
   * enumerating a category see each block once).
   */
  deprecated?: string;
  /** Replace an existing entry instead of refusing. */
  override?: boolean;
}

/** Register options with the estimate, typed by the config. */
export interface RegisterOptionsOf<C> extends RegisterOptions {
  /**
   * What a parsed config will allocate (parameters, and bytes of parameters plus buffers),
   * computed without allocating: `build` refuses a config over its limits before building.
   * Composite blocks sum their children's `estimateConfig`.
   */
  estimate?: (config: C) => Estimate;
}

/**
 * Makes `type` buildable from JSON. The schema should be closed
 * (`z.strictObject`) so a misspelt option is an error, not silently ignored.
 */
export function register<C extends TypedConfig>(
  type: string,
  factory: Factory<C>,
  schema: z.ZodType<C>,
  options: RegisterOptionsOf<C> = {},
): void {
  if (entries.has(type) && !options.override) {
    throw new RegistryError(
      'registry',
      'type',
      'a type not registered yet (or { override: true })',
      `'${type}' already registered`,
    );
  }
  entries.set(type, {
    factory: factory as Factory<never>,
    schema,
    category: options.category ?? 'module',
    info: options.info ?? {},
    ...(options.deprecated === undefined ? {} : { deprecated: options.deprecated }),
    ...(options.estimate === undefined
      ? {}
      : { estimate: options.estimate as (c: never) => Estimate }),
  });
}

const warned = new Set<string>();

/** One console warning per deprecated type per process. */
function warnDeprecated(type: string, entry: Entry): void {
  if (entry.deprecated === undefined || warned.has(type)) return;
  warned.add(type);
  console.warn(`attnkit: type '${type}' is deprecated; ${entry.deprecated}`);
}

export function isRegistered(type: string): boolean {
  return entries.has(type);
}

/**
 * The option names a type's config accepts (its object schema's keys), or undefined
 * when the schema is not a plain object. Lets an assembly fill widths a block takes.
 */
export function configKeys(type: string): string[] | undefined {
  const schema = entries.get(type)?.schema as { shape?: Record<string, unknown> } | undefined;
  return schema?.shape ? Object.keys(schema.shape) : undefined;
}

/** Registered type names, optionally of one category, sorted; deprecated aliases only when asked. */
export function registeredTypes(
  category?: string,
  options: { deprecated?: boolean } = {},
): string[] {
  return [...entries]
    .filter(([, e]) => category === undefined || e.category === category)
    .filter(([, e]) => options.deprecated || e.deprecated === undefined)
    .map(([t]) => t)
    .sort();
}

/** The zod schema a registered type's config is validated with; undefined when not registered. */
export function configSchema(type: string): z.ZodType | undefined {
  return entries.get(type)?.schema;
}

/** What the docs list about a registered type. */
export interface RegistryInfo {
  category: string;
  info: EntryInfo;
  /** Set on a deprecated alias: what to use instead. */
  deprecated?: string;
  /** The option names its config accepts (undefined when the schema is not a plain object). */
  configKeys: string[] | undefined;
  /** Whether it registered an `estimate` (what it allocates, known before building). */
  hasEstimate: boolean;
}

/** Category, metadata and option names of a registered type; undefined when not registered. */
export function registryInfo(type: string): RegistryInfo | undefined {
  const entry = entries.get(type);
  if (!entry) return undefined;
  const { category, info, deprecated } = entry;
  return {
    category,
    info,
    configKeys: configKeys(type),
    hasEstimate: entry.estimate !== undefined,
    ...(deprecated === undefined ? {} : { deprecated }),
  };
}

export interface BuildOptions extends ModuleOptions, ResourceLimits {
  /** JSON path of this config inside a larger document, for error messages. */
  path?: string;
  /** The slot's category (or categories): a type of another category is refused. */
  category?: string | readonly string[];
}

/**
 * Validates `config` against its type's schema and returns the parsed config (defaults filled).
 * With `category`, a type registered under another category is refused (a norm in a mixer slot).
 */
export function validateConfig<C extends TypedConfig = TypedConfig>(
  config: unknown,
  path = '$',
  category?: string | readonly string[],
): C {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ConfigError(
      'registry',
      path,
      'a config object with a "type" field',
      describe(config),
    );
  }
  const type = (config as { type?: unknown }).type;
  if (typeof type !== 'string') {
    throw new ConfigError(
      'registry',
      `${path}.type`,
      'a string naming a registered type',
      describe(type),
    );
  }
  const entry = entries.get(type);
  if (!entry) {
    const known = registeredTypes();
    throw new RegistryError(
      'registry',
      `${path}.type`,
      `a registered type (${known.length ? known.join(', ') : 'none registered'})`,
      describe(type),
    );
  }
  if (category !== undefined) checkCategory(type, entry.category, category, `${path}.type`);
  const depth = valueDepth(config);
  if (depth > DEFAULT_JSON_MAX_DEPTH) {
    throw new ConfigError(
      type,
      path,
      `a config nested at most ${DEFAULT_JSON_MAX_DEPTH} levels`,
      `more than ${DEFAULT_JSON_MAX_DEPTH} levels`,
    );
  }
  warnDeprecated(type, entry);
  const result = entry.schema.safeParse(config, { reportInput: true });
  if (!result.success) throw zodToConfigError(type, path, result.error);
  checkIntegers(type, path, result.data);
  return result.data as C;
}

/** Every integer in a config is at most MAX_CONFIG_INTEGER (walked iteratively). */
function checkIntegers(type: string, path: string, config: unknown): void {
  const stack: [unknown, string][] = [[config, path]];
  while (stack.length) {
    const [value, at] = stack.pop()!;
    if (
      typeof value === 'number' &&
      Number.isInteger(value) &&
      Math.abs(value) > MAX_CONFIG_INTEGER
    ) {
      throw new ConfigError(type, at, `an integer of at most ${MAX_CONFIG_INTEGER}`, String(value));
    }
    if (typeof value === 'object' && value !== null) {
      for (const [key, child] of Object.entries(value)) {
        stack.push([child, Array.isArray(value) ? `${at}[${key}]` : `${at}.${key}`]);
      }
    }
  }
}

/** The top-level integer field with the largest value: what a size error points at. */
function largestSizeField(config: object): [string, number] | undefined {
  let best: [string, number] | undefined;
  for (const [key, value] of Object.entries(config)) {
    if (typeof value === 'number' && Number.isInteger(value) && (!best || value > best[1])) {
      best = [key, value];
    }
  }
  return best;
}

/**
 * What `config` will allocate, without allocating: validates it and calls its type's
 * `estimate`; undefined when the type registered none.
 */
export function estimateConfig(
  config: unknown,
  path = '$',
  category?: string | readonly string[],
): Estimate | undefined {
  const parsed = validateConfig(config, path, category);
  try {
    return estimateParsed(parsed);
  } catch (error) {
    // An estimate's own cross-field check names its field from the block's root, as in build.
    throw underPath(error, path);
  }
}

/**
 * A child's part of a composite block's estimate (a mixer in a block, an expert in a MoE):
 * `estimateConfig` of its config at its JSON path, zero for a type registered without an
 * estimate (the build's backstop still counts what it allocates).
 */
export function estimateChild(
  config: unknown,
  path: string,
  category?: string | readonly string[],
): Estimate {
  return estimateConfig(config, path, category) ?? { parameters: 0, bytes: 0 };
}

/**
 * Throws a ConfigError (naming the path, the largest size field, its value and the limit) when
 * a validated config's estimate exceeds `limits`; returns the estimate (undefined without one).
 */
export function checkConfigLimits(
  parsed: TypedConfig,
  path: string,
  limits: Required<ResourceLimits>,
): Estimate | undefined {
  const estimate = estimateParsed(parsed);
  if (estimate) {
    const field = largestSizeField(parsed);
    checkEstimate(parsed.type, path, field?.[0], field?.[1], estimate, limits);
  }
  return estimate;
}

function estimateParsed(parsed: TypedConfig): Estimate | undefined {
  const estimate = entries.get(parsed.type)!.estimate as ((c: TypedConfig) => Estimate) | undefined;
  return estimate?.(parsed);
}

/**
 * Validates and builds. `build({ type: 'linear', inFeatures: 4, outFeatures: 2 })`.
 *
 * Typed by `AttnkitConfigs`: a config literal of a known type is checked field by field at
 * compile time, so `build({ type: 'differentail' })` and a misspelt option fail to compile.
 * Checked only at run time: a value typed `unknown` (parsed JSON), a config whose `type` is a
 * plain `string`, and any config given with an explicit module type, `build<MyModule>(config)`:
 * the escape hatch for a type registered without a map entry.
 */
export function build<M extends Module = Module>(config: AnyConfig, options?: BuildOptions): M;
export function build<M extends Module = Module, const C = unknown>(
  config: C & UncheckedConfig<C>,
  options?: BuildOptions,
): M;
export function build<M extends Module = Module>(config: unknown, options: BuildOptions = {}): M {
  const { path = '$', category, maxParameters, maxBytes, ...moduleOptions } = options;
  const parsed = validateConfig(config, path, category);
  const entry = entries.get(parsed.type)!;
  // A nested build (a block building its children) keeps the outermost build's limits.
  const limits = activeLimits() ?? resolveLimits({ maxParameters, maxBytes });
  try {
    // An estimate may run the block's own cross-field checks: same path handling as the factory.
    checkConfigLimits(parsed, path, limits);
    return withBudget(limits, () =>
      disposeOnThrow(() => (entry.factory as Factory)(parsed, moduleOptions) as M),
    );
  } catch (error) {
    throw underPath(error, path);
  }
}

/**
 * A factory's cross-field check names its field from the block's own root (`$.numKvHeads`);
 * inside a larger document it is re-raised under the block's path (`$.block.mixer.numKvHeads`).
 */
function underPath(error: unknown, path: string): unknown {
  if (!(error instanceof AttnkitError) || path === '$') return error;
  const argument = error.argument;
  if (!argument.startsWith('$') || argument === path || argument.startsWith(`${path}.`)) {
    return error;
  }
  if (argument.startsWith(`${path}[`)) return error;
  return withArgument(error, path + argument.slice(1));
}

/** Refuses `type` (of category `actual`) in a slot that takes `wanted`, listing what would fit. */
function checkCategory(
  type: string,
  actual: string,
  wanted: string | readonly string[],
  path: string,
): void {
  const categories = typeof wanted === 'string' ? [wanted] : wanted;
  if (categories.includes(actual)) return;
  const known = categories.flatMap((c) => registeredTypes(c));
  const what = categories.join(' or ');
  throw new ConfigError(
    'registry',
    path,
    `a registered ${what} (${known.length ? known.join(', ') : 'none registered'})`,
    `'${type}' (a ${actual})`,
  );
}

/**
 * Parses a config handed straight to a constructor with the schema `build` uses, so
 * `new Linear({ inFeatures: -1, ... })` fails with the same ConfigError (naming `block` and the
 * JSON path) as `build(...)`.
 */
export function parseConfig<C>(block: string, schema: z.ZodType<C>, config: unknown): C {
  const result = schema.safeParse(config, { reportInput: true });
  if (!result.success) throw zodToConfigError(block, '$', result.error);
  return result.data;
}

/** Turns the first zod issue into a ConfigError naming the JSON path. */
export function zodToConfigError(block: string, basePath: string, error: z.ZodError): ConfigError {
  const issue = error.issues[0]!;
  const raw = issue as unknown as Record<string, unknown>;
  // One unknown key is named in the path itself, so the message points at the misspelt field.
  const unknownKeys = issue.code === 'unrecognized_keys' ? ((raw.keys as string[]) ?? []) : [];
  const segments = unknownKeys.length === 1 ? [...issue.path, unknownKeys[0]!] : issue.path;
  const path =
    basePath + segments.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  let expected = issue.message;
  let actual = 'input' in raw ? describe(raw.input) : 'a different value';
  if (issue.code === 'unrecognized_keys') {
    expected = 'only known options';
    actual = `unknown option${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.map((k) => `'${k}'`).join(', ')}`;
  } else if (issue.code === 'invalid_type') {
    expected = String(raw.expected);
    if (!('input' in raw) || raw.input === undefined) {
      actual = 'nothing (missing)';
      // A misspelt required key shows up twice: missing here, unknown beside it. Name both.
      const unknown = error.issues.find(
        (i) => i.code === 'unrecognized_keys' && samePath(i.path, issue.path.slice(0, -1)),
      ) as { keys?: string[] } | undefined;
      const keys = unknown?.keys ?? [];
      if (keys.length) {
        actual += ` (unknown option${keys.length > 1 ? 's' : ''} ${keys.map((k) => describe(k)).join(', ')} given beside it)`;
      }
    }
  } else if (issue.code === 'too_small' || issue.code === 'too_big') {
    const bound =
      issue.code === 'too_small' ? (raw.inclusive ? '>=' : '>') : raw.inclusive ? '<=' : '<';
    expected = `a value ${bound} ${String(raw.minimum ?? raw.maximum)}`;
  } else if (issue.code === 'custom') {
    // A refine over an object reports the object; quote the field its path names instead.
    const field = issue.path[issue.path.length - 1];
    const input = raw.input as Record<PropertyKey, unknown> | undefined;
    if (field !== undefined && typeof input === 'object' && input !== null && field in input) {
      actual = describe(input[field as PropertyKey]);
    }
  } else if (issue.code === 'invalid_value') {
    expected = `one of ${((raw.values as unknown[]) ?? []).map(describe).join(', ')}`;
  }
  return new ConfigError(block, path, expected, actual);
}

function samePath(a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}
