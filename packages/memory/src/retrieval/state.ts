import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, State, StateDictError } from '@attnkit/core';
import type { IndexSnapshot, MemoryIndex } from './memory-index';

const MEMORY = ['memory.keys', 'memory.values', 'memory.order', 'memory.centroids'];

/**
 * The decoding state of a retrieval-memory mixer: the current segment's keys (unrotated) and
 * values [b, h, n, d] as tensors, and one cpu memory (`MemoryIndex`) per sequence and head
 * holding earlier segments, bounded by its capacity. `bytes`, `reorder`, `save`/`restore` and
 * `dispose` cover the memories too: they are saved as tensors `memory.*` (keys and values in
 * slot order, the eviction order, IVF centroids), which exist only inside save/restore.
 */
export class RetrievalMemoryState extends State {
  private memories: MemoryIndex[];
  /** Absolute positions of the cached segment tokens. */
  positions: number[] = [];

  constructor(
    private readonly makeMemory: () => MemoryIndex,
    private batch: number,
    readonly heads: number,
  ) {
    super();
    this.memories = Array.from({ length: batch * heads }, () => makeMemory());
  }

  /** The memory of sequence `row`, head `head`. */
  memory(row: number, head: number): MemoryIndex {
    return this.memories[row * this.heads + head]!;
  }

  /** Every memory, row-major over (sequence, head). */
  get all(): readonly MemoryIndex[] {
    return this.memories;
  }

  /** The current segment's keys and values, or undefined when empty. */
  get local(): { keys: tf.Tensor4D; values: tf.Tensor4D } | undefined {
    const keys = this.tensor<tf.Tensor4D>('keys');
    return keys && { keys, values: this.tensor<tf.Tensor4D>('values')! };
  }

  setLocal(keys: tf.Tensor4D | null, values: tf.Tensor4D | null, positions: number[]): void {
    this.setTensor('keys', keys);
    this.setTensor('values', values);
    this.positions = positions;
  }

  override get bytes(): number {
    return super.bytes + this.memories.reduce((n, m) => n + m.store.bytes, 0);
  }

  override reorder(indices: readonly number[]): void {
    const bad = indices.find((i) => !Number.isInteger(i) || i < 0 || i >= this.batch);
    if (bad !== undefined || indices.length === 0) {
      const want = `a non-empty list of batch rows in [0, ${this.batch})`;
      throw new ConfigError(this.kind, 'indices', want, bad === undefined ? '[]' : String(bad));
    }
    super.reorder(indices);
    const old = this.memories;
    this.memories = indices.flatMap((row) =>
      Array.from({ length: this.heads }, (_, h) => old[row * this.heads + h]!.clone()),
    );
    this.batch = indices.length;
  }

  override async save(): Promise<Uint8Array> {
    this.exportMemories();
    try {
      return await super.save();
    } finally {
      for (const name of MEMORY) this.setTensor(name, null);
    }
  }

  override dispose(): void {
    super.dispose();
    this.memories = [];
    this.positions = [];
  }

  protected override fields(): Record<string, unknown> {
    const counters = this.memories.map((m) => m.snapshot());
    return {
      positions: this.positions,
      batch: this.batch,
      trainedSize: counters.map((c) => c?.trainedSize ?? -1),
      writes: counters.map((c) => c?.writesSinceTraining ?? 0),
    };
  }

  /** Called by `restore` once the saved tensors are in place: rebuilds the memories from them. */
  protected override restoreFields(fields: Record<string, unknown>): void {
    const { batch, positions, trainedSize: trained, writes } = fields as Record<string, number[]>;
    const rows = (batch as unknown as number) * this.heads;
    const ints = (a: unknown, n?: number) =>
      Array.isArray(a) && (n === undefined || a.length === n) && a.every(Number.isInteger);
    // The counters come from the file's metadata (bounded by its size), so they bound the rest.
    if (
      !Number.isInteger(batch) ||
      !ints(trained, rows) ||
      !ints(writes, rows) ||
      !ints(positions)
    ) {
      const want = `a batch and ${this.heads} index counters per row`;
      throw new StateDictError(this.kind, 'bytes', want, 'fields that do not match');
    }
    this.checkMemoryShapes(rows);
    this.positions = positions!;
    this.batch = batch as unknown as number;
    const read = (name: string) => this.tensor(name)?.dataSync();
    const [keys, values, order, centroids] = MEMORY.map(read);
    const n = this.tensor('memory.order')?.shape[2] ?? 0;
    const nc = this.tensor('memory.centroids')?.shape[2] ?? 0;
    this.memories = Array.from({ length: this.batch * this.heads }, () => this.makeMemory());
    this.memories.forEach((m, i) => {
      const [d, dv] = [m.store.dim, m.store.valueDim];
      if (n > 0) {
        m.store.restoreFrom(
          (keys as Float32Array).slice(i * n * d, (i + 1) * n * d),
          (values as Float32Array).slice(i * n * dv, (i + 1) * n * dv),
          (order as Int32Array).slice(i * n, (i + 1) * n),
        );
      }
      const snapshot: IndexSnapshot | undefined =
        trained[i]! >= 0 && centroids
          ? {
              centroids: (centroids as Float32Array).slice(i * nc * d, (i + 1) * nc * d),
              trainedSize: trained[i]!,
              writesSinceTraining: writes[i]!,
            }
          : undefined;
      m.restore(snapshot);
    });
    for (const name of MEMORY) this.setTensor(name, null);
  }

  /** The saved memory tensors are [batch, heads, n, width] of the memories' widths. */
  private checkMemoryShapes(rows: number): void {
    const probe = this.makeMemory();
    const [d, dv] = [probe.store.dim, probe.store.valueDim];
    const n = this.tensor('memory.order')?.shape[2] ?? 0;
    const want: Record<string, [number[], string]> = {
      'memory.keys': [[rows, n, d], 'float32'],
      'memory.values': [[rows, n, dv], 'float32'],
      'memory.order': [[rows, n], 'int32'],
    };
    for (const [name, [shape, dtype]] of Object.entries(want)) {
      const t = this.tensor(name);
      if (n === 0 && !t) continue;
      const got = t ? [t.shape[0]! * t.shape[1]!, ...t.shape.slice(2)] : [];
      if (!t || t.dtype !== dtype || got.join() !== shape.join() || t.shape[1] !== this.heads) {
        const what = t ? `${t.dtype} [${t.shape}]` : 'nothing';
        throw new StateDictError(
          this.kind,
          `bytes.${name}`,
          `${dtype} [batch, ${this.heads}, ${shape.slice(1).join(', ')}]`,
          what,
        );
      }
    }
    const c = this.tensor('memory.centroids');
    if (c && (c.shape[0]! * c.shape[1]! !== rows || c.shape[3] !== d || c.dtype !== 'float32')) {
      throw new StateDictError(
        this.kind,
        'bytes.memory.centroids',
        `float32 [batch, ${this.heads}, nlist, ${d}]`,
        `${c.dtype} [${c.shape}]`,
      );
    }
  }

  /** Puts the memories into `memory.*` tensors [batch, heads, ...] for `save`. */
  private exportMemories(): void {
    const sizes = new Set(this.memories.map((m) => m.store.size));
    if (sizes.size > 1) {
      const got = [...sizes].join(', ');
      throw new ShapeError(this.kind, 'memories', 'the same size for every row and head', got);
    }
    const n = [...sizes][0] ?? 0;
    const [b, h] = [this.batch, this.heads];
    const first = this.memories[0];
    if (!first || n === 0) return;
    const [d, dv] = [first.store.dim, first.store.valueDim];
    const cat = <T extends Float32Array | Int32Array>(parts: T[], make: (m: number) => T) => {
      const out = make(parts.reduce((s, p) => s + p.length, 0));
      let at = 0;
      for (const p of parts) out.set(p, (at += p.length) - p.length);
      return out;
    };
    const f32 = (m: number) => new Float32Array(m);
    const stores = this.memories.map((m) => m.store);
    this.setTensor(
      'memory.keys',
      tf.tensor4d(
        cat(
          stores.map((s) => s.keys),
          f32,
        ),
        [b, h, n, d],
      ),
    );
    this.setTensor(
      'memory.values',
      tf.tensor4d(
        cat(
          stores.map((s) => s.values),
          f32,
        ),
        [b, h, n, dv],
      ),
    );
    const order = cat(
      stores.map((s) => s.order()),
      (m) => new Int32Array(m),
    );
    this.setTensor('memory.order', tf.tensor3d(order, [b, h, n], 'int32'));
    const snaps = this.memories.map((m) => m.snapshot());
    if (snaps.every((s) => s !== undefined)) {
      const cents = cat(
        snaps.map((s) => s!.centroids),
        f32,
      );
      this.setTensor('memory.centroids', tf.tensor4d(cents, [b, h, cents.length / (b * h * d), d]));
    }
  }
}
