import { RegistryError } from './errors';
import { describe } from './checks';

/** What the docs list about a registered entry. Every field is optional. */
export interface EntryInfo {
  /** Authors, year and title, e.g. "Katharopoulos et al. 2020, Transformers are RNNs". */
  paper?: string;
  /** The equation or section implemented, e.g. "eq. 6". */
  equation?: string;
  /** One line: what it does. */
  summary?: string;
  /** A config (or options object) that builds a small working instance. */
  example?: unknown;
}

export interface NamedRegisterOptions {
  /** Replace an existing entry instead of refusing. */
  override?: boolean;
}

/**
 * A map from names to values (activations, normalisers, feature maps, key selectors, retention
 * policies, ...) that users extend without editing ours. Errors name `kind` and list what is
 * registered, so a misspelt name says what would have worked.
 */
export class NamedRegistry<T> {
  private readonly values = new Map<string, { value: T; info: EntryInfo }>();

  /** `kind` names the registry in errors, e.g. 'activation' or 'featureMap'. */
  constructor(readonly kind: string) {}

  register(name: string, value: T, info: EntryInfo = {}, options: NamedRegisterOptions = {}): void {
    if (typeof name !== 'string' || name.length === 0) {
      throw new RegistryError(this.kind, 'name', 'a non-empty string', describe(name));
    }
    if (this.values.has(name) && !options.override) {
      throw new RegistryError(
        this.kind,
        'name',
        `a new ${this.kind} name (or { override: true })`,
        `'${name}' already registered`,
      );
    }
    this.values.set(name, { value, info });
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** The value registered under `name`; a RegistryError listing the known names otherwise. */
  get(name: string, argument = 'name'): T {
    const entry = this.values.get(name);
    if (!entry) {
      throw new RegistryError(
        this.kind,
        argument,
        this.names().length
          ? `one of ${this.names().join(', ')}`
          : `a registered ${this.kind} (none yet)`,
        describe(name),
      );
    }
    return entry.value;
  }

  info(name: string): EntryInfo | undefined {
    return this.values.get(name)?.info;
  }

  /** Registered names in registration order. */
  names(): string[] {
    return [...this.values.keys()];
  }
}
