// Hand-built safetensors buffers for the specs: any header, any data, any declared length.
export function forge(
  header: unknown,
  data: number | Uint8Array = 0,
  declaredLength?: number,
): Uint8Array {
  const text =
    header instanceof Uint8Array
      ? header
      : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? text.length), true);
  out.set(text, 8);
  out.set(body, 8 + text.length);
  return out;
}
