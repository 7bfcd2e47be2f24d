import { formatDuration, formatProgress } from '../src/cli/progress';
import { lossSvg } from '../src/cli/loss-svg';

describe('progress bar and loss chart', () => {
  it('formats progress with loss, throughput and ETA', () => {
    const line = formatProgress(25, 100, 10, { loss: 1.23456, tokensPerSecond: 1500 }, 8);
    expect(line).toBe('[##......] 25/100 loss 1.235 1.5k tok/s ETA 0:30');
    expect(formatDuration(Infinity)).toBe('--:--');
    expect(formatDuration(125)).toBe('2:05');
  });

  it('draws an SVG path through the points', () => {
    const svg = lossSvg([
      { step: 1, loss: 3 },
      { step: 2, loss: 2 },
      { step: 3, loss: NaN },
      { step: 4, loss: 1 },
    ]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect((svg.match(/L/g) ?? []).length).toBe(2);
    expect(lossSvg([])).toContain('no data');
  });
});
