import type { Io } from '@attnkit/models/cli';

/** An `Io` that keeps the lines a command prints (stderr goes to the real one). */
export function capture(): Io & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), errStream: process.stderr, isTTY: false };
}
