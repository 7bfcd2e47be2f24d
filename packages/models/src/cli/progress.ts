/** A one-line progress bar for TTYs: `[#####.....] 50/100 loss 1.234 1.2k tok/s ETA 0:42`. */
export class ProgressBar {
  private readonly start = Date.now();
  private lastDraw = 0;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly width = 24,
  ) {}

  update(done: number, info: { loss?: number; tokensPerSecond?: number } = {}): void {
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < this.total) return;
    this.lastDraw = now;
    this.stream.write(
      `\r${formatProgress(done, this.total, (now - this.start) / 1000, info, this.width)}\x1b[K`,
    );
  }

  finish(): void {
    this.stream.write('\n');
  }
}

/** The bar's text, pure so it can be tested. */
export function formatProgress(
  done: number,
  total: number,
  elapsedSeconds: number,
  info: { loss?: number; tokensPerSecond?: number },
  width = 24,
): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `[${bar}] ${done}/${total} ${formatStatus(done, total, elapsedSeconds, info)}`;
}

/** `loss 1.234 1.2k tok/s ETA 0:42`: what the bar and the plain progress lines show. */
export function formatStatus(
  done: number,
  total: number,
  elapsedSeconds: number,
  info: { loss?: number; tokensPerSecond?: number },
): string {
  const eta = done > 0 ? (elapsedSeconds / done) * (total - done) : NaN;
  const parts: string[] = [];
  if (info.loss !== undefined) parts.push(`loss ${info.loss.toFixed(3)}`);
  if (info.tokensPerSecond !== undefined) parts.push(`${formatCount(info.tokensPerSecond)} tok/s`);
  parts.push(`ETA ${formatDuration(eta)}`);
  return parts.join(' ');
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}
