// The process the kill test (kill.spec.ts) SIGKILLs at random moments. Bundled by esbuild from
// source. `save <dir>`: saveModule of variant 1, 2, 3, ... over and over; `checkpoint <dir>`:
// resume from the checkpoint if there is one, then a training step and three saveCheckpoints, over and over. After each completed write it prints
// `saved <n>`, so the parent knows the newest state that must survive.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { saveModule } from '@attnkit/core';
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from '@attnkit/models/node';
import { killPadding, killTrainer, killVariant } from './variants';

async function main(): Promise<void> {
  const [mode, dir] = process.argv.slice(2);
  tf.env().set('IS_TEST', true); // no banner
  await tf.setBackend('cpu');
  if (mode === 'save') {
    for (let n = 1; ; n++) {
      await saveModule(dir!, killVariant(n), { overwrite: true });
      process.stdout.write(`saved ${n}\n`);
    }
  }
  const { trainer } = killTrainer();
  // Resume, as `attnkit train --resume` does: steps only go forward across kills.
  const resumable = (() => {
    try {
      readCheckpointInfo(dir!);
      return true;
    } catch {
      return false;
    }
  })();
  if (resumable) loadCheckpoint(dir!, trainer);
  for (;;) {
    trainer.trainStep();
    // Three saves per step (same state): most of the time is spent inside a write.
    for (let i = 0; i < 3; i++) {
      await saveCheckpoint(dir!, trainer, killPadding);
      process.stdout.write(`saved ${trainer.step}\n`);
    }
  }
}

void main();
