import * as tf from '@tensorflow/tfjs-core';
import { AttnkitError, Rng, build, registeredTypes, registryInfo } from '@attnkit/core';
import '@attnkit/attention';
import '@attnkit/positional';
import '@attnkit/routing';
import '@attnkit/models';

// Issue 16: configs of every registered type, mutated (sizes, types, nesting), must end in a
// built module within the limits or in one of the library's typed errors: no TypeError, no
// RangeError, no stack overflow, no allocation past the limits. ATTNKIT_FUZZ=n runs n per type.
const perType = Number(process.env.ATTNKIT_FUZZ ?? 60);
const limits = { maxParameters: 2 ** 16, maxBytes: 2 ** 20 };
const types = registeredTypes();

type Json = unknown;

function nested(depth: number): Json {
  let v: Json = 1;
  for (let i = 0; i < depth; i++) v = { x: v };
  return v;
}

const hostile: (rng: Rng) => Json = (rng) => {
  const values: (() => Json)[] = [
    () => 0,
    () => -1,
    () => 1.5,
    () => 1e9,
    () => 2 ** 31,
    () => 2 ** 53,
    () => 1e308,
    () => -0,
    () => 'x',
    () => 'y'.repeat(100_000),
    () => null,
    () => true,
    () => [],
    () => ({}),
    () => [1, 2, 3],
    () => nested(5_000),
    () => ({ type: types[rng.int(types.length)] }),
    () => 3 + rng.int(5),
  ];
  return values[rng.int(values.length)]!();
};

/** Every [object, key] inside `value` (iteratively), the value itself at ['$', null]. */
function slots(value: Json): [Record<string, Json>, string][] {
  const out: [Record<string, Json>, string][] = [];
  const stack: Json[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    for (const key of Object.keys(v)) {
      out.push([v as Record<string, Json>, key]);
      stack.push((v as Record<string, Json>)[key]);
    }
  }
  return out;
}

function mutate(example: Json, rng: Rng): Json {
  const config = structuredClone(example) as Record<string, Json>;
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    const all = slots(config);
    if (all.length === 0) break;
    const [target, key] = all[rng.int(all.length)]!;
    const action = rng.int(6);
    if (action === 0) delete target[key];
    else if (action === 1) target[`${key}x`] = target[key];
    else if (action === 2 && typeof target[key] === 'number') {
      target[key] = (target[key] as number) * [0, 2, 1000, 1e6, -1][rng.int(5)]!;
    } else target[key] = hostile(rng);
  }
  return config;
}

describe('config fuzz over every registered type', () => {
  it.each(types)('%s: mutated configs build within the limits or throw a typed error', (type) => {
    const rng = new Rng(1234 + type.length * 7919 + type.charCodeAt(0));
    const example = registryInfo(type)!.info.example;
    const untyped: string[] = [];
    const started = Date.now();
    for (let i = 0; i < perType; i++) {
      const config = mutate(example, rng);
      const before = tf.memory().numBytes;
      try {
        const module = build(config, limits);
        expect(module.numParams()).toBeLessThanOrEqual(limits.maxParameters);
        expect(tf.memory().numBytes - before).toBeLessThanOrEqual(limits.maxBytes);
        module.dispose();
      } catch (error) {
        if (!(error instanceof AttnkitError)) {
          untyped.push(`${String(error).slice(0, 200)} <- ${JSON.stringify(config).slice(0, 300)}`);
        } else {
          expect(error.message.length).toBeLessThan(2000);
          expect(error.message).not.toMatch(/\n/);
        }
      }
      expect(tf.memory().numBytes).toBe(before);
    }
    expect(untyped).toEqual([]);
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});
