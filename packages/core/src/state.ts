import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, StateDictError } from './errors';
import { decodeSafetensors, encodeSafetensors } from './io/safetensors';

/**
 * Incremental-decoding state (KV cache, recurrent state, memory weights): what a mixer carries
 * from one call to the next. Every tensor is batch-first, so beam search reorders all of them
 * the same way. The owner (whoever called `initState`) disposes it.
 */
export interface IncrementalState {
  /** Number of tokens consumed so far. */
  readonly length: number;
  /** Every tensor the state holds, by stable dotted name (children prefixed by their name). */
  tensors(): Record<string, tf.Tensor>;
  /** Bytes held by those tensors. */
  readonly bytes: number;
  /** Keeps batch rows `indices` (in that order; repeats allowed): beam search. */
  reorder(indices: readonly number[]): void;
  /** The state as a safetensors file (tensors plus its non-tensor fields as metadata). */
  save(): Promise<Uint8Array>;
  /** Replaces this state's contents with a file written by `save` of a state of the same kind. */
  restore(bytes: Uint8Array): void;
  dispose(): void;
}

const META_KEY = 'attnkit.state';

/**
 * The one base of every decoding state. It owns named tensors and child states and frees a
 * tensor when it replaces it. That is safe under a gradient tape too (memory modules train
 * through their state): tfjs records for the backward pass its own copies of the tensors a
 * gradient reads, never the caller's. Subclasses add their non-tensor fields through `fields` /
 * `restoreFields`, so save/restore round-trip them.
 */
export class State implements IncrementalState {
  private consumed = 0;
  private readonly slots = new Map<string, tf.Tensor>();
  private readonly children = new Map<string, IncrementalState>();

  /** The kind written into saved files and checked on restore; the class name by default. */
  get kind(): string {
    return this.constructor.name;
  }

  /** Tokens consumed so far. */
  get length(): number {
    return this.consumed;
  }

  /** Adds `tokens` to the consumed count. */
  advance(tokens: number): void {
    this.consumed += tokens;
  }

  /** A held tensor, or undefined. */
  protected tensor<T extends tf.Tensor = tf.Tensor>(name: string): T | undefined {
    return this.slots.get(name) as T | undefined;
  }

  /** Holds `value` under `name` (kept out of tf.tidy); frees what was there (see the class note). */
  protected setTensor(name: string, value: tf.Tensor | null): void {
    const old = this.slots.get(name);
    if (value === old) return;
    if (value) this.slots.set(name, tf.keep(value));
    else this.slots.delete(name);
    old?.dispose();
  }

  /** Registers a child state; its tensors appear as `<name>.<tensor>`. */
  protected addChild<S extends IncrementalState>(name: string, child: S): S {
    this.children.set(name, child);
    return child;
  }

  /** Non-tensor fields to save (JSON-serialisable). */
  protected fields(): Record<string, unknown> {
    return {};
  }

  /** Restores what `fields` returned. */
  protected restoreFields(_fields: Record<string, unknown>): void {}

  tensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, t] of this.slots) out[name] = t;
    for (const [prefix, child] of this.children) {
      for (const [name, t] of Object.entries(child.tensors())) out[`${prefix}.${name}`] = t;
    }
    return out;
  }

  get bytes(): number {
    let total = 0;
    for (const t of Object.values(this.tensors())) total += t.size * (t.dtype === 'bool' ? 1 : 4);
    return total;
  }

  reorder(indices: readonly number[]): void {
    const batch = this.batchSize();
    if (batch !== undefined) {
      const bad = indices.find((i) => !Number.isInteger(i) || i < 0 || i >= batch);
      if (bad !== undefined || indices.length === 0) {
        throw new ConfigError(
          this.kind,
          'indices',
          `a non-empty list of batch rows in [0, ${batch})`,
          bad === undefined ? '[]' : String(bad),
        );
      }
    }
    const index = tf.tensor1d(indices as number[], 'int32');
    try {
      for (const [name, t] of this.slots) this.setTensor(name, tf.gather(t, index, 0));
    } finally {
      index.dispose();
    }
    for (const child of this.children.values()) child.reorder(indices);
  }

  async save(): Promise<Uint8Array> {
    return encodeSafetensors(this.tensors(), {
      [META_KEY]: JSON.stringify(this.allFields()),
    });
  }

  restore(bytes: Uint8Array): void {
    const { tensors, metadata } = decodeSafetensors(bytes);
    try {
      const fields = parseFields(metadata[META_KEY]);
      if (!fields || fields.kind !== this.kind) {
        throw new StateDictError(
          this.kind,
          'bytes',
          `a state saved by a ${this.kind}`,
          fields ? `a ${String(fields.kind)}` : 'a file without attnkit state metadata',
        );
      }
      const expected = this.expectedNames(fields);
      const given = Object.keys(tensors).sort();
      if (expected.join(',') !== given.join(',')) {
        throw new StateDictError(
          this.kind,
          'bytes',
          `tensors [${expected.join(', ')}]`,
          `[${given.join(', ')}]`,
        );
      }
      this.applyFields(fields, tensors);
    } finally {
      tf.dispose(Object.values(tensors));
    }
  }

  dispose(): void {
    for (const t of this.slots.values()) t.dispose();
    this.slots.clear();
    for (const child of this.children.values()) child.dispose();
  }

  private batchSize(): number | undefined {
    const first = Object.values(this.tensors())[0];
    return first?.shape[0];
  }

  private allFields(): SavedFields {
    const children: Record<string, SavedFields> = {};
    for (const [name, child] of this.children) {
      if (!(child instanceof State)) {
        throw new StateDictError(this.kind, `children.${name}`, 'a State', 'another state kind');
      }
      children[name] = child.allFields();
    }
    return {
      kind: this.kind,
      length: this.length,
      fields: this.fields(),
      own: [...this.slots.keys()],
      children,
    };
  }

  private expectedNames(saved: SavedFields, prefix = ''): string[] {
    const names = (saved.own ?? []).map((n) => prefix + n);
    for (const [name, child] of Object.entries(saved.children ?? {})) {
      names.push(...this.expectedNames(child, `${prefix}${name}.`));
    }
    return names.sort();
  }

  private applyFields(saved: SavedFields, tensors: Record<string, tf.Tensor>, prefix = ''): void {
    if (saved.kind !== this.kind || !Number.isInteger(saved.length) || saved.length < 0) {
      throw new StateDictError(
        this.kind,
        `bytes.${prefix || '(root)'}`,
        `a ${this.kind} with a token count >= 0`,
        `a ${String(saved.kind)} with length ${String(saved.length)}`,
      );
    }
    const known = [...this.children.keys()].sort().join(',');
    const savedChildren = Object.keys(saved.children ?? {});
    if (savedChildren.sort().join(',') !== known) {
      throw new StateDictError(
        this.kind,
        'bytes',
        `child states [${known}]`,
        `[${savedChildren.join(',')}]`,
      );
    }
    for (const name of [...this.slots.keys()]) this.setTensor(name, null);
    for (const name of saved.own ?? []) {
      const t = tensors[prefix + name];
      if (!t) throw new ShapeError(this.kind, `bytes.${prefix}${name}`, 'a tensor', 'nothing');
      this.setTensor(name, tf.clone(t));
    }
    this.consumed = saved.length;
    this.restoreFields(saved.fields ?? {});
    for (const [name, child] of this.children) {
      (child as State).applyFields(saved.children[name]!, tensors, `${prefix}${name}.`);
    }
  }
}

function parseFields(raw: string | undefined): SavedFields | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as SavedFields;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

interface SavedFields {
  kind: string;
  length: number;
  fields: Record<string, unknown>;
  own: string[];
  children: Record<string, SavedFields>;
}
