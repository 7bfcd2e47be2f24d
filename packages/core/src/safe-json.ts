import { ConfigError, type AttnkitError } from './errors';

/** Limits for JSON the library reads from files (configs, headers, tokenizers, run files). */
export interface JsonLimits {
  /** Deepest nesting of arrays and objects. Default 64. */
  maxDepth?: number;
  /** Most characters. Default 2^28 (256 Mi). */
  maxLength?: number;
}

export const DEFAULT_JSON_MAX_DEPTH = 64;
export const DEFAULT_JSON_MAX_LENGTH = 2 ** 28;
/** Longest quoted value in an error message. */
export const MAX_QUOTE_LENGTH = 120;

type ErrorKind = new (
  block: string,
  argument: string,
  expected: string,
  actual: string,
) => AttnkitError;

/** `text` cut to `max` characters, saying how much was left out. */
export function cut(text: string, max = MAX_QUOTE_LENGTH): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;
}

/**
 * The nesting depth of a JSON text, counted without parsing (a linear scan that skips strings),
 * so a document nested a million levels deep costs one pass and no stack.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) max = Math.max(max, ++depth);
    else if (c === 93 || c === 125) depth--;
  }
  return max;
}

/**
 * JSON.parse with a length and a depth limit checked first; every failure is a typed error
 * (`Kind`, ConfigError by default) naming `block` and `argument` (usually the file).
 */
export function parseJson(
  block: string,
  argument: string,
  text: string,
  limits: JsonLimits = {},
  Kind: ErrorKind = ConfigError,
): unknown {
  const { maxDepth = DEFAULT_JSON_MAX_DEPTH, maxLength = DEFAULT_JSON_MAX_LENGTH } = limits;
  if (text.length > maxLength) {
    throw new Kind(
      block,
      argument,
      `JSON of at most ${maxLength} characters`,
      `${text.length} characters`,
    );
  }
  const depth = jsonDepth(text);
  if (depth > maxDepth) {
    throw new Kind(block, argument, `JSON nested at most ${maxDepth} levels`, `${depth} levels`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Kind(block, argument, 'valid JSON', cut((error as Error).message));
  }
}

/** Depth of a parsed value, iteratively (no recursion), stopping once past `limit`. */
export function valueDepth(value: unknown, limit = DEFAULT_JSON_MAX_DEPTH): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    max = Math.max(max, d + 1);
    if (max > limit) return max;
    for (const child of Object.values(v as object)) stack.push([child, d + 1]);
  }
  return max;
}
