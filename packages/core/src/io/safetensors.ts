/**
 * safetensors codec (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{name: {dtype, shape, data_offsets}, __metadata__?}`,
 * then the data buffer; offsets are relative to the start of the data.
 * Works on Uint8Arrays only, so it runs in the browser as well as in Node.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SafetensorsError } from '../errors';
import { cut, jsonDepth } from '../safe-json';
import { DTYPES, KNOWN_DTYPES, invalidValueReason, isKnownDtype } from './dtypes';
import type { SafetensorsDtype } from './dtypes';
import { floatToBfloat16, floatToHalf } from './half';

export type { SafetensorsDtype } from './dtypes';

/** Larger headers are refused before they are read (the reference implementation uses 100 MB). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;
/** Deepest nesting a header may have (a valid one has 3: object, entry, shape). */
export const MAX_HEADER_DEPTH = 16;

export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data buffer. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** N, the JSON header's length in bytes; the data starts at byte 8 + N. */
  headerLength: number;
  dataLength: number;
  tensors: Record<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

export interface DecodedSafetensors {
  /** Owned by the caller: dispose them. */
  tensors: Record<string, tf.Tensor>;
  metadata: Record<string, string>;
}

/** Float encoding for float32 tensors; int32 is always I32 and bool BOOL. */
export interface EncodeSafetensorsOptions {
  dtype?: 'F32' | 'F16' | 'BF16';
}

const ENTRY_FIELDS = ['dtype', 'shape', 'data_offsets'];
const FLOAT_ENCODINGS = ['F32', 'F16', 'BF16'];
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(source: string, argument: string, expected: string, actual: string): never {
  throw new SafetensorsError(source, argument, expected, actual);
}

/** A short printable form: headers can hold anything, error messages stay one line. */
function brief(value: unknown): string {
  let text: string;
  if (value === undefined) text = 'nothing (missing)';
  else if (Array.isArray(value)) text = JSON.stringify(value);
  else if (value === null || typeof value !== 'object') text = JSON.stringify(value);
  else text = 'an object';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Reads and validates the header and the layout of the data buffer, without reading any
 * tensor data. Throws SafetensorsError on anything a decoder could trip on.
 */
export function readSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  return parseHeader(bytes, 'safetensors');
}

export function parseHeader(bytes: Uint8Array, source: string): SafetensorsHeader {
  if (!(bytes instanceof Uint8Array)) {
    fail(source, 'input', 'a Uint8Array', brief(bytes));
  }
  if (bytes.length < 8) {
    fail(source, 'file size', 'at least 8 bytes (the header length)', `${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    fail(
      source,
      'header length',
      `at most ${MAX_SAFETENSORS_HEADER_BYTES} bytes`,
      `${declared} bytes`,
    );
  }
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    fail(
      source,
      'header length',
      `at most ${bytes.length - 8} bytes (what follows the length in the file)`,
      `${headerLength} bytes`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, 8 + headerLength),
    );
  } catch {
    fail(source, 'header', 'valid UTF-8', 'an invalid byte sequence');
  }
  // The nesting is checked by a linear scan first: JSON.parse on a header nested millions
  // deep would overflow the stack.
  const depth = jsonDepth(text);
  if (depth > MAX_HEADER_DEPTH) {
    fail(source, 'header', `JSON nested at most ${MAX_HEADER_DEPTH} levels`, `${depth} levels`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(source, 'header', 'a JSON object', `invalid JSON (${cut((error as Error).message)})`);
  }
  if (!isPlainObject(json)) fail(source, 'header', 'a JSON object', brief(json));

  const dataLength = bytes.length - 8 - headerLength;
  const tensors: [string, SafetensorsEntry][] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(raw, source);
    else tensors.push([name, parseEntry(name, raw, dataLength, source)]);
  }
  checkCoverage(tensors, dataLength, source);
  return { headerLength, dataLength, tensors: Object.fromEntries(tensors), metadata };
}

function parseMetadata(raw: unknown, source: string): Record<string, string> {
  if (!isPlainObject(raw)) fail(source, '__metadata__', 'an object of strings', brief(raw));
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') {
      fail(source, `__metadata__ '${cut(key)}'`, 'a string', brief(value));
    }
  }
  return { ...(raw as Record<string, string>) };
}

function parseEntry(
  name: string,
  raw: unknown,
  dataLength: number,
  source: string,
): SafetensorsEntry {
  const where = `tensor '${cut(name)}'`;
  if (!isPlainObject(raw))
    fail(source, where, 'an object {dtype, shape, data_offsets}', brief(raw));
  const unknown = Object.keys(raw).filter((k) => !ENTRY_FIELDS.includes(k));
  if (unknown.length) {
    fail(source, where, 'only dtype, shape and data_offsets', `unknown field '${unknown[0]}'`);
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (!isKnownDtype(dtype))
    fail(source, `${where} dtype`, `one of ${KNOWN_DTYPES.join(', ')}`, brief(dtype));
  if (!Array.isArray(shape) || !shape.every(isSize)) {
    fail(source, `${where} shape`, 'an array of non-negative integers', brief(shape));
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
    fail(source, `${where} data_offsets`, 'two non-negative integers [begin, end]', brief(offsets));
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLength) {
    fail(
      source,
      `${where} data_offsets`,
      `0 <= begin <= end <= ${dataLength} (the data buffer size)`,
      `[${begin}, ${end}]`,
    );
  }
  const { itemSize } = DTYPES[dtype];
  // The product can round above 2**53, but then it exceeds any real buffer and fails anyway.
  // An empty dimension makes it empty, whatever the others (Infinity * 0 would give NaN).
  const dims = shape as number[];
  const expectedBytes = dims.includes(0) ? 0 : dims.reduce((n, d) => n * d, 1) * itemSize;
  const shapeText = cut(`[${shape.join(',')}]`);
  if (!Number.isSafeInteger(expectedBytes)) {
    fail(
      source,
      `${where} shape`,
      `a shape whose byte size fits in 2^53 (what a file can hold)`,
      `${shapeText} of ${itemSize}-byte ${dtype}, a byte size that overflows`,
    );
  }
  if (end - begin !== expectedBytes) {
    fail(
      source,
      `${where} data_offsets`,
      `${expectedBytes} bytes (shape ${shapeText} of ${itemSize}-byte ${dtype})`,
      `${end - begin} bytes [${begin}, ${end}]`,
    );
  }
  return { dtype, shape: [...(shape as number[])], dataOffsets: [begin, end] };
}

/** The tensors must tile the data buffer exactly: no overlaps, no gaps, no trailing bytes. */
function checkCoverage(
  tensors: [string, SafetensorsEntry][],
  dataLength: number,
  source: string,
): void {
  const sorted = [...tensors].sort(
    ([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1],
  );
  let position = 0;
  let previous = '';
  for (const [name, { dataOffsets }] of sorted) {
    const [begin, end] = dataOffsets;
    if (begin < position) {
      fail(
        source,
        `tensor '${cut(name)}' data_offsets`,
        `to start at or after byte ${position} (the end of '${cut(previous)}')`,
        `[${begin}, ${end}], overlapping '${cut(previous)}'`,
      );
    }
    if (begin > position) {
      fail(
        source,
        `tensor '${cut(name)}' data_offsets`,
        `to start at byte ${position} (no gap in the data buffer)`,
        `[${begin}, ${end}], a gap of ${begin - position} bytes`,
      );
    }
    position = end;
    previous = name;
  }
  if (position !== dataLength) {
    fail(
      source,
      'data buffer',
      `${dataLength} bytes, all covered by tensors`,
      `${position} bytes covered, ${dataLength - position} bytes unaccounted for`,
    );
  }
}

type TypedValues = Float32Array | Int32Array | Uint8Array;

/** One entry's values as the typed array tfjs wants; refuses values its dtype cannot hold. */
function readValues(
  bytes: Uint8Array,
  dataStart: number,
  name: string,
  entry: SafetensorsEntry,
  source: string,
): TypedValues {
  const { dtype, dataOffsets } = entry;
  const raw = bytes.subarray(dataStart + dataOffsets[0], dataStart + dataOffsets[1]);
  const info = DTYPES[dtype];
  const count = raw.length / info.itemSize;
  // Fast paths copy the bytes into a fresh, aligned buffer: `new Uint8Array(view)` copies,
  // whereas a Node Buffer's slice() would return a view into its shared pool.
  if (LITTLE_ENDIAN && dtype === 'F32') return new Float32Array(new Uint8Array(raw).buffer);
  if (LITTLE_ENDIAN && dtype === 'I32') return new Int32Array(new Uint8Array(raw).buffer);
  const out =
    info.tfDtype === 'float32'
      ? new Float32Array(count)
      : info.tfDtype === 'int32'
        ? new Int32Array(count)
        : new Uint8Array(count);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < count; i++) {
    const value = info.read(view, i);
    if (value === undefined) {
      fail(
        source,
        `tensor '${cut(name)}' element ${i}`,
        invalidValueReason(dtype),
        dtype === 'I64' ? String(view.getBigInt64(i * 8, true)) : String(view.getUint8(i)),
      );
    }
    out[i] = value;
  }
  return out;
}

/** Decodes a whole buffer. Everything is validated before the first tensor is allocated. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  return decodeFrom(bytes, 'safetensors');
}

export function decodeFrom(bytes: Uint8Array, source: string): DecodedSafetensors {
  const header = parseHeader(bytes, source);
  const dataStart = 8 + header.headerLength;
  const entries = Object.entries(header.tensors);
  const values = entries.map(([name, entry]) => readValues(bytes, dataStart, name, entry, source));
  const made: [string, tf.Tensor][] = [];
  try {
    entries.forEach(([name, entry], i) => {
      made.push([name, tf.tensor(values[i]!, entry.shape, DTYPES[entry.dtype].tfDtype)]);
    });
  } catch (error) {
    tf.dispose(made.map(([, t]) => t));
    throw error;
  }
  return { tensors: Object.fromEntries(made), metadata: header.metadata };
}

interface Planned {
  name: string;
  tensor: tf.Tensor;
  dtype: SafetensorsDtype;
}

function planEncoding(
  tensors: Record<string, tf.Tensor>,
  metadata: Record<string, string> | undefined,
  floatDtype: string,
): Planned[] {
  const source = 'encodeSafetensors';
  if (!FLOAT_ENCODINGS.includes(floatDtype)) {
    fail(source, 'options.dtype', `one of ${FLOAT_ENCODINGS.join(', ')}`, brief(floatDtype));
  }
  if (!isPlainObject(tensors))
    fail(source, 'tensors', 'an object of named tensors', brief(tensors));
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) fail(source, 'metadata', 'an object of strings', brief(metadata));
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') fail(source, `metadata '${key}'`, 'a string', brief(value));
    }
  }
  const planned = Object.entries(tensors).map(([name, tensor]): Planned => {
    if (name === '__metadata__') {
      fail(source, 'tensor name', 'any name but __metadata__ (reserved)', `'${cut(name)}'`);
    }
    const looksLikeTensor =
      typeof tensor === 'object' && tensor !== null && Array.isArray((tensor as tf.Tensor).shape);
    if (!looksLikeTensor) fail(source, `tensor '${cut(name)}'`, 'a tf.Tensor', brief(tensor));
    if (tensor.isDisposed)
      fail(source, `tensor '${cut(name)}'`, 'a live tensor', 'a disposed tensor');
    const dtype =
      tensor.dtype === 'float32'
        ? (floatDtype as SafetensorsDtype)
        : tensor.dtype === 'int32'
          ? 'I32'
          : tensor.dtype === 'bool'
            ? 'BOOL'
            : fail(source, `tensor '${cut(name)}' dtype`, 'float32, int32 or bool', tensor.dtype);
    return { name, tensor, dtype };
  });
  // Widest items first keeps every tensor aligned to its item size without padding (the data
  // buffer starts 8-aligned), which readers that map the file into typed arrays rely on.
  return planned.sort(
    (a, b) =>
      DTYPES[b.dtype].itemSize - DTYPES[a.dtype].itemSize ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

function writeValues(
  view: DataView,
  at: number,
  dtype: SafetensorsDtype,
  data: ArrayLike<number>,
): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (dtype === 'F32') view.setFloat32(at + 4 * i, x, true);
    else if (dtype === 'F16') view.setUint16(at + 2 * i, floatToHalf(x), true);
    else if (dtype === 'BF16') view.setUint16(at + 2 * i, floatToBfloat16(x), true);
    else if (dtype === 'I32') view.setInt32(at + 4 * i, x, true);
    else view.setUint8(at + i, x ? 1 : 0); // BOOL
  }
}

/**
 * Encodes named tensors (not disposed) as safetensors: float32 as F32 (or F16/BF16 with
 * `options.dtype`), int32 as I32, bool as BOOL. The header is padded with spaces to a
 * multiple of 8 bytes and every tensor is aligned to its item size.
 */
export async function encodeSafetensors(
  tensors: Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
  options: EncodeSafetensorsOptions = {},
): Promise<Uint8Array> {
  const planned = planEncoding(tensors, metadata, options.dtype ?? 'F32');
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const { name, tensor, dtype } of planned) {
    const size = tensor.size * DTYPES[dtype].itemSize;
    header[name] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const { tensor, dtype } of planned) {
    const data = (await tensor.data()) as Float32Array | Int32Array | Uint8Array;
    if (LITTLE_ENDIAN && (dtype === 'F32' || dtype === 'I32')) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    } else {
      writeValues(view, at, dtype, data);
    }
    at += tensor.size * DTYPES[dtype].itemSize;
  }
  return out;
}
