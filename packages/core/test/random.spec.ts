import { ConfigError, Rng, getGlobalRng, setSeed } from '@attnkit/core';

describe('Rng', () => {
  it('repeats its sequence for the same seed and differs across seeds', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 8 }, () => rng.nextUint32());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    for (const v of draw(0)) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
  });

  it('draws uniform, integer and normal numbers with the right moments', () => {
    const rng = new Rng(3);
    const n = 20000;
    const u = Array.from({ length: n }, () => rng.uniform());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(u.reduce((a, b) => a + b) / n).toBeCloseTo(0.5, 1);
    const z = Array.from({ length: n }, () => rng.normal());
    const mean = z.reduce((a, b) => a + b) / n;
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    expect(z.every(Number.isFinite)).toBe(true);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < n; i++) counts[rng.int(5)]++;
    for (const c of counts) expect(Math.abs(c / n - 0.2)).toBeLessThan(0.02);
  });

  it('forks children that do not disturb each other', () => {
    const parent = new Rng(11);
    const a = parent.fork();
    const b = parent.fork();
    const first = [a.nextUint32(), a.nextUint32()];
    expect([b.nextUint32(), b.nextUint32()]).not.toEqual(first);
    const again = new Rng(11).fork();
    expect([again.nextUint32(), again.nextUint32()]).toEqual(first);
  });

  it('saves and restores its state exactly', () => {
    const rng = new Rng(5);
    rng.nextUint32();
    const state = rng.getState();
    const next = [rng.uniform(), rng.normal()];
    const copy = new Rng(99);
    copy.setState(state);
    expect([copy.uniform(), copy.normal()]).toEqual(next);
  });

  it('rejects bad seeds and states', () => {
    expect(() => new Rng(-1)).toThrow(ConfigError);
    expect(() => new Rng(1.5)).toThrow('Rng: seed expected an integer >= 0, got 1.5');
    expect(() => new Rng(Number.NaN)).toThrow(/got NaN/);
    expect(() => new Rng(0).setState([1, 2, 3])).toThrow(/state expected 4 uint32 values/);
    expect(() => new Rng(0).setState([1, 2, 3, -4])).toThrow(RangeError);
  });

  it('setSeed replaces the global generator', () => {
    setSeed(21);
    const a = getGlobalRng().nextUint32();
    setSeed(21);
    expect(getGlobalRng().nextUint32()).toBe(a);
    setSeed(0);
  });
});
