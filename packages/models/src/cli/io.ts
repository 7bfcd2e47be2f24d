/** Where CLI commands write, so tests can run them in-process. */
export interface Io {
  out(line: string): void;
  /** Raw stream for the progress bar (a TTY when `isTTY`). */
  errStream: NodeJS.WriteStream;
  isTTY: boolean;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  errStream: process.stderr,
  isTTY: Boolean(process.stderr.isTTY),
};
