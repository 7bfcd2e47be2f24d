/**
 * Typed errors. Every message names the block, the argument, what was expected
 * and what was given, so a user can fix the call without reading our code.
 */
export class AttnkitError extends Error {
  constructor(
    readonly block: string,
    readonly argument: string,
    readonly expected: string,
    readonly actual: string,
    detail?: string,
  ) {
    super(
      `${block}: ${argument} ${detail ? detail + '; ' : ''}expected ${expected}, got ${actual}`,
    );
    this.name = new.target.name;
  }
}

/**
 * The same typed error (same class, block, expected and actual value) about `argument`: for
 * re-raising an error from a nested call with the caller's name or JSON path of the argument.
 */
export function withArgument(error: AttnkitError, argument: string): AttnkitError {
  const Kind = error.constructor as new (
    block: string,
    argument: string,
    expected: string,
    actual: string,
  ) => AttnkitError;
  return new Kind(error.block, argument, error.expected, error.actual);
}

/** A tensor with the wrong rank, shape or dtype. */
export class ShapeError extends AttnkitError {}

/** A config value that is missing, of the wrong type, or out of range. */
export class ConfigError extends AttnkitError {}

/** An unknown or duplicate registry type. */
export class RegistryError extends AttnkitError {}

/** A state dict whose names, shapes or dtypes do not match the module. */
export class StateDictError extends AttnkitError {}

/** A safetensors buffer or file that is malformed or unsafe to read. */
export class SafetensorsError extends AttnkitError {}

/** Formats a shape for messages: `[2,3,4]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
