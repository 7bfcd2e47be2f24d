import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, StateDictError, formatShape } from './errors';
import { Rng, getGlobalRng } from './random';
import { reserve } from './limits';
import { quietCpuBanner } from './io/backend';

/** Options that are not part of the serialisable config. */
export interface ModuleOptions {
  /** Generator for parameter initialisation; defaults to the global one (see `setSeed`). */
  rng?: Rng;
}

/** A config that the registry can rebuild: a plain JSON object naming its type. */
export interface TypedConfig {
  type: string;
}

export type StateDict = Record<string, tf.Tensor>;

export interface LoadStateDictOptions {
  /** When true (default), missing, unexpected and mismatched entries are all errors. */
  strict?: boolean;
}

// Modules constructed inside the innermost disposeOnThrow call (null outside any).
let constructedModules: Module[] | null = null;

/**
 * Runs `make` (a constructor, a factory); if it throws, disposes every module constructed
 * during the call, so a block that fails half-way through building its children leaks none of
 * their parameters. `build` runs every factory this way.
 */
export function disposeOnThrow<T>(make: () => T): T {
  const outer = constructedModules;
  const made: Module[] = [];
  constructedModules = made;
  try {
    return make();
  } catch (error) {
    for (const module of made) {
      try {
        module.dispose();
      } catch {
        // A half-built subclass's own dispose may trip on fields it never set; the first error
        // is the one to report.
      }
    }
    throw error;
  } finally {
    constructedModules = outer;
    // An enclosing call owns these too: its later failure frees them.
    outer?.push(...made);
  }
}

/**
 * Base of every block. Parameters are `tf.Variable`s created in the constructor
 * (no lazy build), so `forward` allocates nothing long-lived and runs under
 * `tf.tidy`, `tf.grad` and `optimizer.minimize` unchanged.
 */
export abstract class Module<C extends object = object> {
  readonly config: Readonly<C>;
  protected readonly rng: Rng;
  private readonly ownParams = new Map<string, tf.Variable>();
  private readonly children = new Map<string, Module>();
  private trainingMode = true;
  private disposed = false;

  constructor(config: C, options: ModuleOptions = {}) {
    quietCpuBanner();
    this.config = Object.freeze({ ...config });
    this.rng = options.rng ?? getGlobalRng();
    constructedModules?.push(this);
  }

  /** Name used in error messages: the config's `type` when it has one, else the class name. */
  get blockName(): string {
    const type = (this.config as Partial<TypedConfig>).type;
    return typeof type === 'string' ? type : this.constructor.name;
  }

  /** Registers `initial` as a parameter; the module takes ownership of `initial`. */
  protected addParameter(name: string, initial: tf.Tensor, trainable = true): tf.Variable {
    this.checkNewName(name);
    try {
      reserve(this.blockName, `parameter '${name}' ${formatShape(initial.shape)}`, initial.size);
    } catch (error) {
      initial.dispose();
      throw error;
    }
    const variable = tf.variable(initial, trainable);
    initial.dispose();
    this.ownParams.set(name, variable);
    return variable;
  }

  /** Registers a child module; its parameters appear under `name.`. */
  protected addModule<M extends Module>(name: string, module: M): M {
    this.checkNewName(name);
    this.children.set(name, module);
    module.train(this.trainingMode);
    return module;
  }

  private checkNewName(name: string): void {
    if (!/^[A-Za-z0-9_]+$/.test(name)) {
      throw new ConfigError(this.blockName, 'parameter name', 'letters, digits or _', `'${name}'`);
    }
    if (this.ownParams.has(name) || this.children.has(name)) {
      throw new ConfigError(
        this.blockName,
        'parameter name',
        'a unique name',
        `duplicate '${name}'`,
      );
    }
  }

  /** Child modules by name (direct children only). */
  namedChildren(): Map<string, Module> {
    return new Map(this.children);
  }

  /** Every parameter under a stable dotted path, e.g. `layers.0.attn.q.weight`. */
  namedParameters(prefix = ''): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, v] of this.ownParams) out.set(prefix + name, v);
    for (const [name, child] of this.children) {
      for (const [path, v] of child.namedParameters(`${prefix}${name}.`)) out.set(path, v);
    }
    return out;
  }

  parameters(): tf.Variable[] {
    return [...this.namedParameters().values()];
  }

  trainableParameters(): tf.Variable[] {
    return this.parameters().filter((v) => v.trainable);
  }

  numParams(): number {
    return this.parameters().reduce((n, v) => n + v.size, 0);
  }

  /**
   * The parameters by dotted path. The tensors are the module's own variables:
   * read them, do not dispose them.
   */
  stateDict(): StateDict {
    return Object.fromEntries(this.namedParameters());
  }

  /** Copies values into the parameters. Strict by default: every mismatch is reported at once. */
  loadStateDict(state: StateDict, options: LoadStateDictOptions = {}): void {
    const strict = options.strict ?? true;
    const params = this.namedParameters();
    const missing = [...params.keys()].filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !params.has(k));
    const mismatched: string[] = [];
    for (const [name, v] of params) {
      const t = state[name];
      if (!t) continue;
      if (!tf.util.arraysEqual(t.shape, v.shape) || t.dtype !== v.dtype) {
        mismatched.push(
          `${name} (expected ${v.dtype}${formatShape(v.shape)}, got ${t.dtype}${formatShape(t.shape)})`,
        );
      }
    }
    const problems = [
      missing.length ? `missing: ${missing.join(', ')}` : '',
      unexpected.length ? `unexpected: ${unexpected.join(', ')}` : '',
      mismatched.length ? `mismatched: ${mismatched.join(', ')}` : '',
    ].filter(Boolean);
    if (mismatched.length || (strict && problems.length)) {
      throw new StateDictError(
        this.blockName,
        'state dict',
        'entries matching the module parameters',
        problems.join('; '),
      );
    }
    for (const [name, v] of params) {
      const t = state[name];
      // A module's own state dict (or a shared variable) is already in place: assigning a
      // variable to itself would free the data it reads.
      if (t && t !== v) v.assign(t);
    }
  }

  /** Sets training mode (dropout, noisy routing, ...) on this module and all children. */
  train(mode = true): this {
    this.trainingMode = mode;
    for (const child of this.children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  get training(): boolean {
    return this.trainingMode;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Frees every parameter of this module and its children. Safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    for (const v of this.ownParams.values()) v.dispose();
    for (const child of this.children.values()) child.dispose();
    this.ownParams.clear();
    this.children.clear();
    this.disposed = true;
  }
}
