import type { Rng } from '@attnkit/core';
import { ConfigError } from '@attnkit/core';
import type { ImageExample, ImageTask } from './image-task';
import { checkTaskOption } from './task';

export interface ShapesOptions {
  /** Image side in pixels (the model's imageSize); a multiple of 8. */
  imageSize: number;
  channels: number;
  /** Classes, the first numClasses of the 10 patterns (at most 10). */
  numClasses: number;
  /** Standard deviation of the Gaussian pixel noise, in hundredths (default 30 = 0.3). */
  noise?: number;
}

/** The patterns, one per class, as `(x, y, s, jitter) => on`; s = image side. */
const PATTERNS: ((x: number, y: number, s: number, j: number) => boolean)[] = [
  (_x, y, s, j) => Math.floor((y + j) / (s / 8)) % 2 === 0, // horizontal bars
  (x, _y, s, j) => Math.floor((x + j) / (s / 8)) % 2 === 0, // vertical bars
  (x, y, s, j) => (Math.floor((x + j) / (s / 8)) + Math.floor((y + j) / (s / 8))) % 2 === 0, // checkerboard
  (x, y, s, j) => inSquare(x, y, s / 4 + j, s / 4 + j, s / 2), // square top-left
  (x, y, s, j) => inSquare(x, y, s / 4 + j, (3 * s) / 4 + j, s / 2), // square top-right
  (x, y, s, j) => inSquare(x, y, (3 * s) / 4 + j, s / 4 + j, s / 2), // square bottom-left
  (x, y, s, j) => inSquare(x, y, (3 * s) / 4 + j, (3 * s) / 4 + j, s / 2), // square bottom-right
  (x, y, s, j) => Math.abs(x - y - j) < s / 8, // diagonal band
  (x, y, s, j) => Math.min(x, y, s - 1 - x, s - 1 - y) < s / 8 + (j % 2), // frame
  (x, y, s, j) => Math.abs(x - s / 2 - j / 2) < s / 8 || Math.abs(y - s / 2 - j / 2) < s / 8, // cross
];

/** A side-`size` square centred at (row, column) = (cy, cx). */
function inSquare(x: number, y: number, cy: number, cx: number, size: number): boolean {
  return Math.abs(y + 0.5 - cy) < size / 2 && Math.abs(x + 0.5 - cx) < size / 2;
}

/**
 * Procedural shapes: each image is one of up to 10 patterns (horizontal or vertical bars, a
 * checkerboard, a square in one of the four quadrants, a diagonal band, a frame, a cross),
 * shifted by a random few pixels, drawn in a random colour on black, plus Gaussian noise; the
 * class is the pattern. No file needed; learnable by a tiny ViT in a few hundred steps.
 */
export class ShapesTask implements ImageTask {
  readonly kind = 'image';
  readonly name = 'shapes';
  readonly imageSize: number;
  readonly channels: number;
  readonly numClasses: number;
  readonly options: Record<string, number>;
  private readonly noise: number;

  constructor(opts: ShapesOptions) {
    checkTaskOption('shapes', 'imageSize', opts.imageSize, 8);
    if (opts.imageSize % 8 !== 0)
      throw new ConfigError('shapes', 'imageSize', 'a multiple of 8', String(opts.imageSize));
    checkTaskOption('shapes', 'channels', opts.channels, 1);
    checkTaskOption('shapes', 'numClasses', opts.numClasses, 2);
    if (opts.numClasses > PATTERNS.length) {
      throw new ConfigError(
        'shapes',
        'numClasses',
        `an integer in [2, ${PATTERNS.length}] (one pattern per class)`,
        String(opts.numClasses),
      );
    }
    const noise = opts.noise ?? 30;
    checkTaskOption('shapes', 'noise', noise, 0);
    this.imageSize = opts.imageSize;
    this.channels = opts.channels;
    this.numClasses = opts.numClasses;
    this.noise = noise / 100;
    this.options = { ...opts, noise };
  }

  sample(rng: Rng): ImageExample {
    const { imageSize: s, channels: c } = this;
    const label = rng.int(this.numClasses);
    const draw = PATTERNS[label]!;
    const jitter = rng.int(s / 8);
    const colour = Array.from({ length: c }, () => 0.5 + 0.5 * rng.uniform());
    const image = new Float32Array(s * s * c);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const on = draw(x, y, s, jitter) ? 1 : 0;
        for (let ch = 0; ch < c; ch++)
          image[(y * s + x) * c + ch] = on * colour[ch]! + this.noise * rng.normal();
      }
    }
    return { image, label };
  }
}
