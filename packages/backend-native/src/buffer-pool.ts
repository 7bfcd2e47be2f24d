// Output buffers recycled within the process. Every large kernel output used to be a fresh
// ArrayBuffer: V8 counts those as external memory and runs a full garbage collection for every
// ~64 MB of them (several per llama-small training step), and each first write page-faults.
// A buffer comes back here when the last tensor data that holds it is disposed, and only if no
// array of it ever left the backend (readSync / read / dataSync hand out the stored array
// itself, so those buffers are never reused). Idle buffers are bounded (oldest dropped first).

/** What the pool knows of a buffer it allocated. */
interface Owned {
  /** The whole buffer as allocated, handed out again on reuse. */
  array: Float32Array;
  /** Live tensor data entries whose values view this buffer. */
  holders: number;
  /** An array of it was handed to a caller: never reused. */
  escaped: boolean;
}

/** Statistics of the pool (see getBufferPoolStats). */
export interface BufferPoolStats {
  /** Bytes of idle buffers held for reuse. */
  idleBytes: number;
  /** Most idle bytes held (setBufferPoolLimit; 0 turns reuse off). */
  limitBytes: number;
  /** Allocations served from the pool / freshly allocated, since the process started. */
  reused: number;
  allocated: number;
}

/** Below this many elements a plain typed array is cheaper than a Buffer of its own. */
export const POOLED_MIN_ELEMENTS = 2048;

function defaultLimit(): number {
  const env = typeof process !== 'undefined' ? process.env.ATTNKIT_NATIVE_POOL_MB : undefined;
  const mb = env === undefined || env === '' ? 512 : Number(env);
  if (!Number.isFinite(mb) || mb < 0) {
    throw new RangeError(`ATTNKIT_NATIVE_POOL_MB: expected a number >= 0, got '${env}'`);
  }
  return Math.floor(mb * 2 ** 20);
}

class BufferPool {
  private readonly owned = new WeakMap<ArrayBuffer, Owned>();
  /** Idle buffers by element count, most recently freed last. */
  private readonly idle = new Map<number, Float32Array[]>();
  /** Idle buffers in the order they were freed (the oldest is dropped first). */
  private readonly order = new Set<Float32Array>();
  private idleBytes = 0;
  private limit = defaultLimit();
  private reused = 0;
  private allocated = 0;

  /** Uninitialised float32 storage of n elements, reused when an idle one fits exactly. */
  take(n: number): Float32Array {
    const stack = this.idle.get(n);
    const array = stack?.pop();
    if (array) {
      this.order.delete(array);
      this.idleBytes -= array.byteLength;
      this.reused++;
      return array;
    }
    this.allocated++;
    const fresh = new Float32Array(Buffer.allocUnsafeSlow(n * 4).buffer, 0, n);
    this.owned.set(fresh.buffer as ArrayBuffer, { array: fresh, holders: 0, escaped: false });
    return fresh;
  }

  /** A tensor data entry now holds `values` (or a view of the same buffer). */
  hold(values: unknown): void {
    const o = this.ownerOf(values);
    if (o) o.holders++;
  }

  /** A tensor data entry holding `values` is gone: the buffer is idle when none is left. */
  release(values: unknown): void {
    const o = this.ownerOf(values);
    if (!o) return;
    o.holders--;
    if (o.holders > 0 || o.escaped || this.limit === 0) return;
    const bytes = o.array.byteLength;
    if (bytes > this.limit) return;
    while (this.idleBytes + bytes > this.limit) this.dropOldest();
    const stack = this.idle.get(o.array.length);
    if (stack) stack.push(o.array);
    else this.idle.set(o.array.length, [o.array]);
    this.order.add(o.array);
    this.idleBytes += bytes;
  }

  /** An array of this buffer was handed out: it stays the caller's. */
  escape(values: unknown): void {
    const o = this.ownerOf(values);
    if (o) o.escaped = true;
  }

  setLimit(bytes: number): void {
    this.limit = bytes;
    while (this.idleBytes > this.limit) this.dropOldest();
  }

  get limitBytes(): number {
    return this.limit;
  }

  /** Forgets every idle buffer (the garbage collector frees them). */
  clear(): void {
    this.idle.clear();
    this.order.clear();
    this.idleBytes = 0;
  }

  stats(): BufferPoolStats {
    const { idleBytes, limit: limitBytes, reused, allocated } = this;
    return { idleBytes, limitBytes, reused, allocated };
  }

  private ownerOf(values: unknown): Owned | undefined {
    if (!(values instanceof Float32Array)) return undefined;
    return this.owned.get(values.buffer as ArrayBuffer);
  }

  private dropOldest(): void {
    const oldest = this.order.values().next().value as Float32Array;
    this.order.delete(oldest);
    const stack = this.idle.get(oldest.length)!;
    stack.splice(stack.indexOf(oldest), 1);
    if (stack.length === 0) this.idle.delete(oldest.length);
    this.idleBytes -= oldest.byteLength;
  }
}

/** The process's pool: kernels take from it, the backend's data bookkeeping returns to it. */
export const bufferPool = new BufferPool();
