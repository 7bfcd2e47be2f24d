// The safetensors dtypes attnkit reads and how each maps onto a tfjs dtype.
import { bfloat16ToFloat, halfToFloat } from './half';

export type SafetensorsDtype =
  'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

interface DtypeInfo {
  itemSize: number;
  tfDtype: 'float32' | 'int32' | 'bool';
  /** Reads element `i` of little-endian `view`; undefined marks a value that cannot be kept. */
  read: (view: DataView, i: number) => number | undefined;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export const DTYPES: Record<SafetensorsDtype, DtypeInfo> = {
  F32: { itemSize: 4, tfDtype: 'float32', read: (v, i) => v.getFloat32(i * 4, true) },
  F16: { itemSize: 2, tfDtype: 'float32', read: (v, i) => halfToFloat(v.getUint16(i * 2, true)) },
  BF16: {
    itemSize: 2,
    tfDtype: 'float32',
    read: (v, i) => bfloat16ToFloat(v.getUint16(i * 2, true)),
  },
  I64: {
    itemSize: 8,
    tfDtype: 'int32',
    read: (v, i) => {
      const x = v.getBigInt64(i * 8, true);
      return x >= INT32_MIN && x <= INT32_MAX ? Number(x) : undefined;
    },
  },
  I32: { itemSize: 4, tfDtype: 'int32', read: (v, i) => v.getInt32(i * 4, true) },
  I16: { itemSize: 2, tfDtype: 'int32', read: (v, i) => v.getInt16(i * 2, true) },
  U16: { itemSize: 2, tfDtype: 'int32', read: (v, i) => v.getUint16(i * 2, true) },
  I8: { itemSize: 1, tfDtype: 'int32', read: (v, i) => v.getInt8(i) },
  U8: { itemSize: 1, tfDtype: 'int32', read: (v, i) => v.getUint8(i) },
  BOOL: {
    itemSize: 1,
    tfDtype: 'bool',
    read: (v, i) => {
      const x = v.getUint8(i);
      return x <= 1 ? x : undefined;
    },
  },
};

export const KNOWN_DTYPES = Object.keys(DTYPES) as SafetensorsDtype[];

export function isKnownDtype(name: unknown): name is SafetensorsDtype {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, name);
}

/** What a decoded value must be: why a value is refused, for error messages. */
export function invalidValueReason(dtype: SafetensorsDtype): string {
  return dtype === 'I64' ? 'values that fit in int32' : 'bytes 0 or 1';
}
