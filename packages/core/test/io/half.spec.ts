import * as fs from 'node:fs';
import * as path from 'node:path';
import { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from '../../src/io/half';

const reference = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/io-reference.json'), 'utf8'),
) as { f16: { inputs: number[]; bits: number[] } };

describe('half and bfloat16 conversions', () => {
  it('round-trips every one of the 65536 half bit patterns (NaNs stay NaN)', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const x = halfToFloat(bits);
      if (Number.isNaN(x)) expect(Number.isNaN(halfToFloat(floatToHalf(x)))).toBe(true);
      else expect(floatToHalf(x)).toBe(bits);
    }
  });

  it('decodes known half values', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
  });

  it('rounds float32 to half exactly as numpy does (ties to even, subnormals, overflow)', () => {
    const { inputs, bits } = reference.f16;
    expect(inputs.map(floatToHalf)).toEqual(bits);
  });

  it('rounds float32 to bfloat16 to nearest even and keeps NaN a NaN', () => {
    expect(floatToBfloat16(1.5)).toBe(0x3fc0);
    expect(bfloat16ToFloat(floatToBfloat16(1 + 2 ** -8))).toBe(1); // tie, down to even
    expect(bfloat16ToFloat(floatToBfloat16(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6); // tie, up to even
    expect(bfloat16ToFloat(floatToBfloat16(1 + 2 ** -8 + 2 ** -20))).toBe(1 + 2 ** -7);
    expect(bfloat16ToFloat(floatToBfloat16(3.4e38))).toBe(Infinity);
    expect(Number.isNaN(bfloat16ToFloat(floatToBfloat16(NaN)))).toBe(true);
    expect(bfloat16ToFloat(0xc010)).toBe(-2.25);
  });
});
