// Hostile input: every refusal must be a SafetensorsError, never a crash, a hang or a tensor.
import * as tf from '@tensorflow/tfjs-core';
import {
  Rng,
  SafetensorsError,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsHeader,
} from '@attnkit/core';
import { forge } from './forge';

/** Decodes; returns 'ok' (tensors disposed) or the error's class name. */
function outcome(bytes: Uint8Array): string {
  try {
    const { tensors } = decodeSafetensors(bytes);
    tf.dispose(Object.values(tensors));
    return 'ok';
  } catch (error) {
    return error instanceof SafetensorsError ? 'SafetensorsError' : String(error);
  }
}

let sample: Uint8Array;
beforeAll(async () => {
  const t = {
    w: tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]),
    i: tf.tensor1d([7, 8], 'int32'),
    b: tf.tensor1d([true, false, true], 'bool'),
    e: tf.zeros([0]),
  };
  sample = await encodeSafetensors(t, { k: 'v' });
  tf.dispose(Object.values(t));
});

describe('safetensors under hostile input', () => {
  it('refuses the sample cut at every byte boundary, allocating nothing', () => {
    const before = tf.memory().numTensors;
    for (let cut = 0; cut < sample.length; cut++) {
      expect([cut, outcome(sample.subarray(0, cut))]).toEqual([cut, 'SafetensorsError']);
    }
    expect(outcome(sample)).toBe('ok');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses oversized and absurd header lengths without reading them', () => {
    for (const declared of [
      2n ** 64n - 1n,
      2n ** 53n,
      2n ** 32n,
      100_000_001n,
      BigInt(sample.length),
    ]) {
      const bytes = sample.slice();
      new DataView(bytes.buffer).setBigUint64(0, declared, true);
      expect(() => decodeSafetensors(bytes)).toThrow(/header length expected at most/);
    }
  });

  it('refuses random bytes, with or without a plausible header length', () => {
    const rng = new Rng(11);
    const before = tf.memory().numTensors;
    for (let trial = 0; trial < 300; trial++) {
      const bytes = Uint8Array.from({ length: rng.int(96) }, () => rng.int(256));
      if (trial % 2 === 0 && bytes.length >= 8) {
        new DataView(bytes.buffer).setBigUint64(0, BigInt(rng.int(bytes.length - 7)), true);
      }
      expect(outcome(bytes)).toBe('SafetensorsError');
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses random headers: junk values, unknown dtypes, stray offsets', () => {
    const rng = new Rng(5);
    const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)]!;
    const junk = () => pick<unknown>([null, true, -1, 1.5, 'x', [], {}, [1, 2, 3], 2 ** 60]);
    const before = tf.memory().numTensors;
    let accepted = 0;
    for (let trial = 0; trial < 400; trial++) {
      const header: Record<string, unknown> = {};
      const dataLength = rng.int(64);
      for (let k = rng.int(4); k >= 0; k--) {
        const begin = rng.int(dataLength + 4);
        const entry: Record<string, unknown> = {
          dtype: pick(['F32', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL', 'F64', 'f32', '']),
          shape: Array.from({ length: rng.int(3) }, () => rng.int(5)),
          data_offsets: [begin, begin + rng.int(24)],
        };
        if (rng.uniform() < 0.15) entry[pick(['dtype', 'shape', 'data_offsets'])] = junk();
        if (rng.uniform() < 0.05) entry.extra = 1;
        header[rng.uniform() < 0.05 ? '__metadata__' : `t${k}`] =
          rng.uniform() < 0.05 ? junk() : entry;
      }
      const data = Uint8Array.from({ length: dataLength }, () => rng.int(256));
      const result = outcome(forge(header, data));
      expect(['ok', 'SafetensorsError']).toContain(result);
      if (result === 'ok') accepted++;
    }
    // Nearly every generated header is wrong somewhere (this seed: all of them).
    expect(accepted).toBeLessThan(40);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses each forgery of a valid random layout: overlap, gap, out of range, wrong size', () => {
    const rng = new Rng(9);
    const forgeries = ['overlap', 'gap', 'beyond', 'size', 'trailing'] as const;
    const before = tf.memory().numTensors;
    for (let trial = 0; trial < 200; trial++) {
      const entries: { dtype: string; shape: number[]; data_offsets: [number, number] }[] = [];
      let end = 0;
      for (let k = 0; k < 2 + rng.int(3); k++) {
        const shape = [1 + rng.int(3), 1 + rng.int(3)];
        const size = shape[0]! * shape[1]! * 4;
        entries.push({ dtype: 'F32', shape, data_offsets: [end, end + size] });
        end += size;
      }
      const valid = Object.fromEntries(entries.map((e, k) => [`t${k}`, e]));
      expect(outcome(forge(valid, end))).toBe('ok');
      const victim = entries[1 + rng.int(entries.length - 1)]!;
      const [begin, stop] = victim.data_offsets;
      const kind = forgeries[trial % forgeries.length]!;
      let dataLength = end;
      if (kind === 'overlap') victim.data_offsets = [begin - 4, stop - 4];
      if (kind === 'gap') victim.data_offsets = [begin + 4, stop + 4];
      if (kind === 'beyond') victim.data_offsets = [begin + end, stop + end];
      if (kind === 'size') victim.shape = [victim.shape[0]! + 1, victim.shape[1]!];
      if (kind === 'trailing') dataLength += 1 + rng.int(8);
      expect([kind, outcome(forge(valid, dataLength))]).toEqual([kind, 'SafetensorsError']);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('decodes or refuses every single-byte corruption of a valid file, never anything else', () => {
    const rng = new Rng(23);
    const before = tf.memory().numTensors;
    const headerEnd = 8 + readSafetensorsHeader(sample).headerLength;
    let refusedHeader = 0;
    for (let trial = 0; trial < 300; trial++) {
      const bytes = sample.slice();
      const at = rng.int(bytes.length);
      bytes[at] = (bytes[at]! + 1 + rng.int(255)) % 256;
      const result = outcome(bytes);
      expect(['ok', 'SafetensorsError']).toContain(result);
      if (at < headerEnd && result !== 'ok') refusedHeader++;
    }
    expect(refusedHeader).toBeGreaterThan(100);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses non-JSON and non-object headers', () => {
    for (const text of [
      '',
      ' ',
      'nul',
      'null',
      '42',
      '"s"',
      '[]',
      '{',
      '{"a":1,}',
      "{'a':1}",
      '\ufeff{}',
    ]) {
      expect([text, outcome(forge(text))]).toEqual([text, 'SafetensorsError']);
    }
  });

  it('keeps a 100 MB header limit but reads empty files of zero tensors', () => {
    const { tensors, metadata } = decodeSafetensors(forge('{}'));
    expect([tensors, metadata]).toEqual([{}, {}]);
    expect(readSafetensorsHeader(forge('{"__metadata__":{"a":"b"}}    ')).metadata).toEqual({
      a: 'b',
    });
  });
});
