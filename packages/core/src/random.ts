import { checkInt } from './checks';

/**
 * Seeded random numbers generated in JavaScript, so the same seed gives the
 * same numbers on every backend (tfjs' own random ops differ per backend).
 * xoshiro128** (Blackman & Vigna 2018), seeded through splitmix32.
 */
export class Rng {
  private s: Uint32Array;

  constructor(seed = 0) {
    checkInt('Rng', 'seed', seed, 0);
    this.s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u1 = (this.nextUint32() + 1) / 4294967297; // in (0, 1), never log(0)
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A new generator seeded from this one: children draw without disturbing siblings. */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }

  /** Serialisable state, for checkpoints. */
  getState(): number[] {
    return Array.from(this.s);
  }

  setState(state: readonly number[]): void {
    if (state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError(`Rng: state expected 4 uint32 values, got ${JSON.stringify(state)}`);
    }
    this.s = Uint32Array.from(state);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let globalRng = new Rng(0);

/** Seeds the global generator used when a module is built without its own `rng`. */
export function setSeed(seed: number): void {
  globalRng = new Rng(seed);
}

/** The global generator. */
export function getGlobalRng(): Rng {
  return globalRng;
}
