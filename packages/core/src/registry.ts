import { z } from 'zod';
import { ConfigError, RegistryError } from './errors';
import { describe } from './checks';
import { disposeOnThrow, type Module, type ModuleOptions, type TypedConfig } from './module';
import type { EntryInfo } from './named-registry';

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

/**
 * Makes `type` buildable from JSON. The schema should be closed
 * (`z.strictObject`) so a misspelt option is an error, not silently ignored.
 */
export function register<C extends TypedConfig>(
  type: string,
  factory: Factory<C>,
  schema: z.ZodType<C>,
  options: RegisterOptions = {},
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

/** What the docs list about a registered type. */
export interface RegistryInfo {
  category: string;
  info: EntryInfo;
  /** Set on a deprecated alias: what to use instead. */
  deprecated?: string;
  /** The option names its config accepts (undefined when the schema is not a plain object). */
  configKeys: string[] | undefined;
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
    ...(deprecated === undefined ? {} : { deprecated }),
  };
}

export interface BuildOptions extends ModuleOptions {
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
      `'${type}'`,
    );
  }
  if (category !== undefined) checkCategory(type, entry.category, category, `${path}.type`);
  warnDeprecated(type, entry);
  const result = entry.schema.safeParse(config, { reportInput: true });
  if (!result.success) throw zodToConfigError(type, path, result.error);
  return result.data as C;
}

/** Validates and builds. `build({ type: 'linear', inFeatures: 4, outFeatures: 2 })`. */
export function build<M extends Module = Module>(config: unknown, options: BuildOptions = {}): M {
  const { path = '$', category, ...moduleOptions } = options;
  const parsed = validateConfig(config, path, category);
  const entry = entries.get(parsed.type)!;
  return disposeOnThrow(() => (entry.factory as Factory)(parsed, moduleOptions) as M);
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
    if (!('input' in raw) || raw.input === undefined) actual = 'nothing (missing)';
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
