"""safetensors written and read by hand (numpy + struct + json), independent of attnkit.

Write the fixtures (packages/core/test/fixtures/io-reference.safetensors + io-reference.json):
    /usr/bin/python3 tools/reference/core/io_reference.py
Check files attnkit wrote (the spec writes them with ATTNKIT_UPDATE_IO_FIXTURES=1):
    /usr/bin/python3 tools/reference/core/io_reference.py --check
It parses io-attnkit.safetensors and io-attnkit-f16.safetensors byte by byte (header length,
space padding to 8, offsets tiling the data, alignment) and compares every value with
io-reference.json: exactly, and for F16 bit for bit with numpy's float32 -> float16 cast.
"""
import json
import os
import struct
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), '../../../packages/core/test/fixtures')
NUMPY = {'F32': '<f4', 'F16': '<f2', 'I64': '<i8', 'I32': '<i4', 'I8': 'i1', 'U8': 'u1', 'BOOL': '?'}
rng = np.random.default_rng(3)


def bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (written out; numpy has no bfloat16)."""
    u = np.asarray(x, dtype='<f4').view('<u4').astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype('<u2')


# Insertion order is kept on disk: 'bytes.u8' first leaves the next F32 unaligned on purpose.
tensors = [
    ('bytes.u8', 'U8', np.array([0, 127, 255], dtype='u1')),
    ('weight.f32', 'F32', rng.standard_normal((2, 3)).astype('<f4')),
    ('small.i8', 'I8', np.array([-128, -1, 127], dtype='i1')),
    ('weight.f16', 'F16', np.array([65504, 2.0**-24, -2.5, 1 / 3], dtype='<f2')),
    ('weight.bf16', 'BF16', bf16_bits([1.5, -2.25, 3.0e-3])),
    ('ids.i64', 'I64', np.array([[1, -2], [2**31 - 1, -(2**31)]], dtype='<i8')),
    ('ids.i32', 'I32', np.array([7, -8, 9], dtype='<i4')),
    ('flags.bool', 'BOOL', np.array([[True, False], [False, True]])),
    ('empty.f32', 'F32', np.zeros((0, 3), dtype='<f4')),
    ('scale.f32', 'F32', np.array(0.5, dtype='<f4')),
    ('ñame.f32', 'F32', np.array([-0.0, 1e-30], dtype='<f4')),
]
metadata = {'source': 'numpy', 'note': 'héllo ✓'}


def values_of(dtype, arr):
    if dtype == 'BF16':
        return (arr.astype('<u4') << 16).view('<f4').astype('f8').tolist()
    return arr.astype('f8').reshape(-1).tolist()


def write_reference():
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name, dtype, arr in tensors:
        raw = arr.tobytes()
        header[name] = {'dtype': dtype, 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, ensure_ascii=False).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    with open(os.path.join(OUT, 'io-reference.safetensors'), 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))
    # float32 -> float16 casts by numpy (round to nearest even, subnormals, overflow to inf).
    probes = np.array([0.1, -1 / 3, 1 + 2**-11, 1 + 3 * 2**-11, 65504, 65519.99, 65520, 1e6,
                       2**-24, 2**-25, 3 * 2**-26, 2**-14 - 2**-25, 6e-5, -1e-8, 1e-30], dtype='<f4')
    with np.errstate(over='ignore'):
        half_bits = probes.astype('<f2').view('<u2').tolist()
    expected = {
        'tensors': {name: {'dtype': dtype, 'shape': list(arr.shape), 'values': values_of(dtype, arr)}
                    for name, dtype, arr in tensors},
        'metadata': metadata,
        'f16': {'inputs': probes.astype('f8').tolist(), 'bits': half_bits},
    }
    with open(os.path.join(OUT, 'io-reference.json'), 'w', encoding='utf-8') as f:
        json.dump(expected, f, ensure_ascii=False)
    print('wrote io-reference.safetensors,', os.path.getsize(os.path.join(OUT, 'io-reference.safetensors')), 'bytes')


def parse(path):
    """Reads a safetensors file by the spec, asserting the layout attnkit promises to write."""
    data = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', data[:8])
    assert n % 8 == 0, f'header length {n} not a multiple of 8'
    raw = data[8:8 + n]
    text = raw.decode('utf-8')
    assert text == text.rstrip(' ') + ' ' * (len(text) - len(text.rstrip(' '))), 'padding is not spaces'
    header = json.loads(text)
    meta = header.pop('__metadata__', {})
    start, spans, out = 8 + n, [], {}
    for name, info in header.items():
        b, e = info['data_offsets']
        item = np.dtype(NUMPY[info['dtype']]).itemsize
        assert b % item == 0, f'{name}: offset {b} not aligned to {item}'
        arr = np.frombuffer(data[start + b:start + e], dtype=NUMPY[info['dtype']]).reshape(info['shape'])
        spans.append((b, e))
        out[name] = (info['dtype'], arr)
    position = 0
    for b, e in sorted(spans):
        assert b == position, f'gap or overlap at byte {b}'
        position = e
    assert start + position == len(data), 'data buffer not fully covered'
    return out, meta


def check():
    expected = json.load(open(os.path.join(OUT, 'io-reference.json'), encoding='utf-8'))
    got, meta = parse(os.path.join(OUT, 'io-attnkit.safetensors'))
    assert meta == expected['metadata'], meta
    assert set(got) == set(expected['tensors']), sorted(got)
    for name, want in expected['tensors'].items():
        dtype, arr = got[name]
        assert dtype == {'F32': 'F32', 'F16': 'F32', 'BF16': 'F32', 'BOOL': 'BOOL'}.get(want['dtype'], 'I32'), (name, dtype)
        assert list(arr.shape) == want['shape'], (name, arr.shape)
        assert arr.astype('f8').reshape(-1).tolist() == want['values'], name
    half, _ = parse(os.path.join(OUT, 'io-attnkit-f16.safetensors'))
    dtype, arr = half['probes']
    assert dtype == 'F16'
    assert arr.view('<u2').tolist() == expected['f16']['bits'], arr.view('<u2').tolist()
    print('io-attnkit.safetensors and io-attnkit-f16.safetensors match the reference')


if __name__ == '__main__':
    check() if '--check' in sys.argv else write_reference()
