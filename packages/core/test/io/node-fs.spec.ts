import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fsReason, nodeFs, tempSibling, writeTemp } from '../../src/io/node-fs';

describe('node-fs helpers', () => {
  it('loads fs and path once, lazily', async () => {
    const first = await nodeFs();
    expect(typeof first.fs.rename).toBe('function');
    expect(await nodeFs()).toBe(first);
  });

  it('writes a hidden temp sibling without touching the target, refusing to reuse a name', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-fs-'));
    const target = path.join(dir, 'a.bin');
    fs.writeFileSync(target, 'old');
    const temp = await writeTemp(target, Uint8Array.of(1, 2, 3));
    expect(path.dirname(temp)).toBe(dir);
    expect(path.basename(temp)).toMatch(/^\.a\.bin\.\d+-[a-z0-9]+\.tmp$/);
    expect(fs.readFileSync(target, 'utf8')).toBe('old');
    expect([...fs.readFileSync(temp)]).toEqual([1, 2, 3]);
    expect(tempSibling(path, target)).not.toBe(tempSibling(path, target));
    await expect(writeTemp(path.join(dir, 'missing', 'x'), 'y')).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(fs.readdirSync(dir).sort()).toEqual([path.basename(temp), 'a.bin'].sort());
    fs.rmSync(dir, { recursive: true });
  });

  it('reports an fs error by its code', () => {
    expect(fsReason(Object.assign(new Error('x'), { code: 'EISDIR' }))).toBe('EISDIR');
    expect(fsReason(new Error('plain'))).toBe('plain');
  });
});
