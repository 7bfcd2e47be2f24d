import { SAFETENSORS_DTYPES } from '@attnkit/core';
import { DTYPES, isKnownDtype } from '../../src/io/dtypes';

function viewOf(bytes: number[]): DataView {
  return new DataView(Uint8Array.from(bytes).buffer);
}

describe('safetensors dtypes', () => {
  it('lists what the reader accepts, each with its item size and tfjs dtype', () => {
    expect([...SAFETENSORS_DTYPES].sort()).toEqual(
      ['BF16', 'BOOL', 'F16', 'F32', 'I16', 'I32', 'I64', 'I8', 'U16', 'U8'].sort(),
    );
    expect(DTYPES.I64.itemSize).toBe(8);
    expect(DTYPES.BF16.tfDtype).toBe('float32');
    expect(DTYPES.U8.tfDtype).toBe('int32');
    expect(DTYPES.BOOL.tfDtype).toBe('bool');
    expect(isKnownDtype('F64')).toBe(false);
    expect(isKnownDtype('toString')).toBe(false);
  });

  it('reads little-endian values and refuses what int32 and bool cannot hold', () => {
    expect(DTYPES.I16.read(viewOf([0xfe, 0xff]), 0)).toBe(-2);
    expect(DTYPES.U16.read(viewOf([0xfe, 0xff]), 0)).toBe(65534);
    expect(DTYPES.I8.read(viewOf([0x80]), 0)).toBe(-128);
    const i64 = new DataView(new ArrayBuffer(16));
    i64.setBigInt64(0, -(2n ** 31n), true);
    i64.setBigInt64(8, 2n ** 31n, true);
    expect(DTYPES.I64.read(i64, 0)).toBe(-(2 ** 31));
    expect(DTYPES.I64.read(i64, 1)).toBeUndefined();
    expect(DTYPES.BOOL.read(viewOf([1, 2]), 0)).toBe(1);
    expect(DTYPES.BOOL.read(viewOf([1, 2]), 1)).toBeUndefined();
  });
});
