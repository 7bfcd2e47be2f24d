// Seeded mutations of real files for the file fuzz suites (issue 16): bit flips, truncation,
// byte insertion, huge numbers, deep nesting, duplicated keys, long strings, type changes.
import type { Rng } from '@attnkit/core';

type Json = unknown;

/** Inputs per run: a few hundred in CI, `ATTNKIT_FUZZ=n` for n per file kind. */
export function fuzzCount(ci: number): number {
  const n = Number(process.env.ATTNKIT_FUZZ ?? ci);
  return Number.isInteger(n) && n > 0 ? n : ci;
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!;

/** Values a hostile file puts where a size, a name or a list belongs. */
function hostile(rng: Rng): Json {
  return pick<() => Json>(rng, [
    () => 0,
    () => -1,
    () => 0.5,
    () => 2 ** 31,
    () => 2 ** 53 + 2,
    () => 1e308,
    () => -1e308,
    () => 1e9,
    () => '',
    () => 'x'.repeat(1 + rng.int(200_000)),
    () => '\ud800',
    () => '😀a',
    () => null,
    () => true,
    () => [],
    () => ({}),
    () => [1, 2],
    () => [[0, 0]],
    () => ({ type: 'bpe' }),
  ])();
}

/** Every [container, key] inside `value`, found iteratively. */
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

/** One structural change of a parsed document (in place), or a whole new document. */
function mutateValue(doc: Json, rng: Rng): Json {
  const all = slots(doc);
  if (all.length === 0) return hostile(rng);
  const [target, key] = pick(rng, all);
  const value = target[key];
  switch (rng.int(7)) {
    case 0:
      if (Array.isArray(target)) target.splice(Number(key), 1);
      else delete target[key];
      break;
    case 1:
      if (Array.isArray(target)) target.splice(Number(key), 0, structuredClone(value));
      else target[`${key}_`] = structuredClone(value);
      break;
    case 2:
      if (typeof value === 'number') {
        target[key] = pick(rng, [
          value + 1,
          value - 1,
          value * 2,
          value * 1000,
          -value,
          value + 0.5,
        ]);
      } else target[key] = hostile(rng);
      break;
    case 3:
      // A list grown large: a long array of the same entry (duplicated merges, vocab entries).
      if (Array.isArray(value) && value.length > 0) {
        // At most ~2 MB of text more, so one input stays cheap to parse.
        const budget = Math.floor(2_000_000 / (JSON.stringify(value).length + 1));
        const n = Math.max(1, Math.min(1 + rng.int(5000), budget * value.length));
        const extra = Array.from({ length: n }, () => value[rng.int(value.length)]);
        target[key] = [...value, ...structuredClone(extra)];
      } else target[key] = hostile(rng);
      break;
    case 4:
      if (Array.isArray(value) && value.length > 1) {
        const i = rng.int(value.length);
        const j = rng.int(value.length);
        [value[i], value[j]] = [value[j], value[i]];
      } else target[key] = hostile(rng);
      break;
    default:
      target[key] = hostile(rng);
  }
  return doc;
}

/** `[[[...1...]]]` nested `depth` levels, as text (never built as a value). */
function nestedText(depth: number): string {
  return '['.repeat(depth) + '1' + ']'.repeat(depth);
}

/**
 * A mutated copy of a JSON file's text: structural changes of the parsed value (one to three),
 * or text-level damage the parser sees (bit flips, truncation, inserted bytes, a duplicated key
 * given a hostile value, deep nesting, numbers beyond float range).
 */
export function mutateJsonText(text: string, rng: Rng): string {
  const kind = rng.int(10);
  if (kind < 4) {
    let doc = JSON.parse(text) as Json;
    const rounds = 1 + rng.int(3);
    for (let r = 0; r < rounds; r++) doc = mutateValue(doc, rng);
    return JSON.stringify(doc);
  }
  if (kind === 4) {
    // A key given twice: JSON.parse keeps the last, a hostile value.
    const keys = [...text.matchAll(/"([A-Za-z]+)"\s*:/g)];
    if (keys.length === 0) return text;
    const m = pick(rng, keys);
    const dup = `"${m[1]}":${JSON.stringify(hostile(rng))},`;
    return text.slice(0, m.index) + dup + text.slice(m.index);
  }
  if (kind === 5) {
    // Deep nesting in place of a value (or around the document).
    const depth = pick(rng, [100, 65, 5_000, 200_000]);
    const colon = text.indexOf(':', rng.int(text.length));
    if (colon < 0) return nestedText(depth);
    return text.slice(0, colon + 1) + nestedText(depth) + ',' + text.slice(colon + 1);
  }
  if (kind === 6) {
    // A number beyond float range or precision replaces one in the text.
    const numbers = [...text.matchAll(/-?\d+(\.\d+)?/g)];
    if (numbers.length === 0) return text;
    const m = pick(rng, numbers);
    const huge = pick(rng, [
      '1e999',
      '-1e999',
      '9007199254740993',
      '4294967296',
      '1e-400',
      '2147483648',
    ]);
    return text.slice(0, m.index) + huge + text.slice(m.index! + m[0].length);
  }
  return new TextDecoder().decode(mutateBytes(new TextEncoder().encode(text), rng));
}

/** Bit flips, truncation, inserted or removed bytes of a binary (or text) file. */
export function mutateBytes(bytes: Uint8Array, rng: Rng): Uint8Array {
  const out = Uint8Array.from(bytes);
  switch (rng.int(4)) {
    case 0: {
      const flips = 1 + rng.int(4);
      for (let f = 0; f < flips; f++) out[rng.int(out.length)]! ^= 1 << rng.int(8);
      return out;
    }
    case 1:
      return out.slice(0, rng.int(out.length));
    case 2: {
      const at = rng.int(out.length + 1);
      const inserted = Uint8Array.from({ length: 1 + rng.int(8) }, () =>
        pick(rng, [0x5b, 0x7b, 0x22, 0x5d, 0x7d, 0x2c, 0x3a, 0x30, 0x39, 0xff, 0x00, rng.int(256)]),
      );
      const grown = new Uint8Array(out.length + inserted.length);
      grown.set(out.subarray(0, at));
      grown.set(inserted, at);
      grown.set(out.subarray(at), at + inserted.length);
      return grown;
    }
    default: {
      const at = rng.int(out.length);
      const n = 1 + rng.int(8);
      return Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + n)]);
    }
  }
}

/** A short description of an input, for a failure message that reproduces it. */
export function preview(text: string | Uint8Array): string {
  const s = typeof text === 'string' ? text : `<${text.length} bytes>`;
  return s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s;
}
