/**
 * Exact top-k by score over candidates, with ties broken by the lower id, so every search
 * (full forward, decoding, a restored state) picks the same entries. A binary min-heap of
 * size k: O(n log k) for n candidates.
 */
export class TopK {
  private readonly ids: Int32Array;
  private readonly scores: Float64Array;
  private count = 0;

  constructor(readonly k: number) {
    this.ids = new Int32Array(k);
    this.scores = new Float64Array(k);
  }

  /** Offers one candidate. */
  push(id: number, score: number): void {
    if (this.count < this.k) {
      this.ids[this.count] = id;
      this.scores[this.count] = score;
      this.up(this.count++);
    } else if (this.better(score, id, this.scores[0]!, this.ids[0]!)) {
      this.ids[0] = id;
      this.scores[0] = score;
      this.down(0);
    }
  }

  /** The kept candidates, best first. */
  result(): { ids: Int32Array; scores: Float32Array } {
    const order = Array.from({ length: this.count }, (_, i) => i).sort((a, b) =>
      this.better(this.scores[a]!, this.ids[a]!, this.scores[b]!, this.ids[b]!) ? -1 : 1,
    );
    return {
      ids: Int32Array.from(order, (i) => this.ids[i]!),
      scores: Float32Array.from(order, (i) => this.scores[i]!),
    };
  }

  /** a ranks above b: higher score, or the same score and a lower id. */
  private better(sa: number, ia: number, sb: number, ib: number): boolean {
    return sa > sb || (sa === sb && ia < ib);
  }

  private worse(i: number, j: number): boolean {
    return this.better(this.scores[j]!, this.ids[j]!, this.scores[i]!, this.ids[i]!);
  }

  private swap(i: number, j: number): void {
    const [id, s] = [this.ids[i]!, this.scores[i]!];
    this.ids[i] = this.ids[j]!;
    this.scores[i] = this.scores[j]!;
    this.ids[j] = id;
    this.scores[j] = s;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.worse(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let least = i;
      if (l < this.count && this.worse(l, least)) least = l;
      if (r < this.count && this.worse(r, least)) least = r;
      if (least === i) return;
      this.swap(i, least);
      i = least;
    }
  }
}

/** Inner product of a query with row `row` of a row-major matrix of width `dim`. */
export function dotRow(
  query: Float32Array,
  matrix: Float32Array,
  row: number,
  dim: number,
): number {
  let s = 0;
  const base = row * dim;
  for (let j = 0; j < dim; j++) s += query[j]! * matrix[base + j]!;
  return s;
}
