// Checkpoint recovery after crashes inside a write: the newest complete copy wins (never an
// older one, which would silently redo steps), and every other copy is removed.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '@attnkit/core';
import { MqarTask, TaskSource, Trainer } from '@attnkit/models';
import { readCheckpointInfo, saveCheckpoint } from '@attnkit/models/node';
import { tinyLm } from './helpers';
import { describeWithBlocks } from './blocks-ready';

const task = new MqarTask({ numPairs: 2, numKeys: 4, numValues: 4 });

/** Checkpoints of one tiny run at steps 1..n, each saved into its own directory. */
async function checkpointsAtSteps(root: string, n: number): Promise<string[]> {
  const rng = new Rng(0);
  const model = tinyLm({ vocabSize: task.vocabSize, maxLength: 8 }, 0, rng);
  const trainer = new Trainer(model, new TaskSource(task, 2, 1), { steps: 10, rngs: [rng] });
  const dirs: string[] = [];
  for (let step = 1; step <= n; step++) {
    trainer.trainStep();
    const dir = path.join(root, `step${step}`);
    await saveCheckpoint(dir, trainer);
    dirs.push(dir);
  }
  trainer.dispose();
  model.dispose();
  return dirs;
}

const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

let root: string;
let steps: string[];
beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-ckpt-'));
  steps = await checkpointsAtSteps(path.join(root, 'made'), 3);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A run directory holding `copies` (name -> step directory to copy, or 'partial'). */
function runWith(copies: Record<string, string>): string {
  const run = fs.mkdtempSync(path.join(root, 'run-'));
  for (const [name, from] of Object.entries(copies)) {
    const to = path.join(run, name);
    if (from === 'partial') {
      fs.mkdirSync(to);
      fs.copyFileSync(
        path.join(steps[2]!, 'model.safetensors'),
        path.join(to, 'model.safetensors'),
      );
      fs.writeFileSync(path.join(to, 'state.json'), '{"step": 9'); // cut mid-write
    } else {
      fs.cpSync(from, to, { recursive: true });
    }
  }
  return run;
}

describeWithBlocks('checkpoint recovery', () => {
  it('takes the newest complete copy, not the oldest, and removes the rest', () => {
    const [a, b] = [deadPid(), deadPid()];
    const run = runWith({
      [`.checkpoint.old-${a}`]: steps[0]!,
      [`.checkpoint.old-${b}`]: steps[1]!,
      [`.checkpoint.tmp-${b}-x1`]: steps[2]!,
      [`.checkpoint.tmp-${a}-x2`]: 'partial',
    });
    const dir = path.join(run, 'checkpoint');
    expect(readCheckpointInfo(dir).step).toBe(3);
    expect(fs.readdirSync(run)).toEqual(['checkpoint']);
  });

  it('prefers a complete newer copy over the directory itself, an older one never', () => {
    const pid = deadPid();
    const newer = runWith({ checkpoint: steps[1]!, [`.checkpoint.tmp-${pid}-y`]: steps[2]! });
    expect(readCheckpointInfo(path.join(newer, 'checkpoint')).step).toBe(3);
    expect(fs.readdirSync(newer)).toEqual(['checkpoint']);
    const older = runWith({
      checkpoint: steps[1]!,
      [`.checkpoint.old-${pid}`]: steps[0]!,
      [`.checkpoint.tmp-${pid}`]: 'partial',
    });
    expect(readCheckpointInfo(path.join(older, 'checkpoint')).step).toBe(2);
    expect(fs.readdirSync(older)).toEqual(['checkpoint']);
  });

  it('the next checkpoint write cleans leftovers; a running writer is left alone', async () => {
    const writer = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)']);
    try {
      const pid = deadPid();
      const live = `.checkpoint.tmp-${writer.pid}-z`;
      const run = runWith({
        checkpoint: steps[0]!,
        [`.checkpoint.old-${pid}-q`]: steps[1]!,
        [live]: 'partial',
      });
      const rng = new Rng(0);
      const model = tinyLm({ vocabSize: task.vocabSize, maxLength: 8 }, 0, rng);
      const trainer = new Trainer(model, new TaskSource(task, 2, 1), { steps: 10, rngs: [rng] });
      for (let i = 0; i < 5; i++) trainer.trainStep();
      await saveCheckpoint(path.join(run, 'checkpoint'), trainer);
      expect(fs.readdirSync(run).sort()).toEqual([live, 'checkpoint']);
      expect(readCheckpointInfo(path.join(run, 'checkpoint')).step).toBe(5);
      trainer.dispose();
      model.dispose();
    } finally {
      writer.kill('SIGKILL');
    }
  });
});
