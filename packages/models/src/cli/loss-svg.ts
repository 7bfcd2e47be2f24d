/** A small SVG line chart of loss per step, written by hand (no plotting dependency). */
export function lossSvg(
  points: { step: number; loss: number }[],
  width = 480,
  height = 240,
): string {
  const pad = 40;
  const finite = points.filter((p) => Number.isFinite(p.loss));
  const header = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`;
  const frame = `<rect x="${pad}" y="${pad / 2}" width="${width - 1.5 * pad}" height="${height - 1.5 * pad}" fill="none" stroke="#999"/>`;
  if (finite.length === 0)
    return `${header}${frame}<text x="${width / 2}" y="${height / 2}" text-anchor="middle">no data</text></svg>\n`;
  const x0 = finite[0]!.step;
  const x1 = Math.max(x0 + 1, finite[finite.length - 1]!.step);
  const lo = Math.min(...finite.map((p) => p.loss));
  const hi = Math.max(lo + 1e-9, ...finite.map((p) => p.loss));
  const sx = (s: number) => pad + ((s - x0) / (x1 - x0)) * (width - 1.5 * pad);
  const sy = (l: number) => pad / 2 + (1 - (l - lo) / (hi - lo)) * (height - 1.5 * pad);
  const path = finite
    .map((p, i) => `${i ? 'L' : 'M'}${sx(p.step).toFixed(1)},${sy(p.loss).toFixed(1)}`)
    .join(' ');
  const label = (x: number, y: number, text: string, anchor = 'end') =>
    `<text x="${x}" y="${y}" font-size="10" font-family="sans-serif" text-anchor="${anchor}">${text}</text>`;
  return [
    header,
    frame,
    `<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>`,
    label(pad - 4, pad / 2 + 8, hi.toFixed(3)),
    label(pad - 4, height - pad, lo.toFixed(3)),
    label(pad, height - pad + 14, String(x0), 'start'),
    label(width - pad / 2, height - pad + 14, `step ${x1}`),
    label(width / 2, 12, 'training loss', 'middle'),
    '</svg>\n',
  ].join('');
}
