#!/usr/bin/env node
// Link checker over the built site (docs/.vitepress/dist): every internal href/src of every page
// must name a file of the site, and every #anchor an id on the page it points to. VitePress's own
// check (on in docs/.vitepress/config.mts) catches dead links between pages under docs/ but not
// a link that leaves docs/ nor a missing anchor; this catches both. External URLs are not
// fetched (the build runs offline).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { root } from './load-registry.mjs';

const dist = join(root, 'docs/.vitepress/dist');
if (!existsSync(dist)) {
  console.error('check-links: no docs/.vitepress/dist; run `vitepress build docs` first');
  process.exit(1);
}

function htmlFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return htmlFiles(path);
    return name.endsWith('.html') ? [path] : [];
  });
}

/** The file a site URL path serves (cleanUrls: /a/b is a/b.html or a/b/index.html). */
function fileOf(urlPath) {
  const p = decodeURIComponent(urlPath).replace(/^\//, '');
  for (const candidate of [p, `${p}.html`, join(p, 'index.html')]) {
    const file = join(dist, candidate);
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return undefined;
}

const ids = new Map();
function idsOf(file) {
  if (!ids.has(file)) {
    const html = readFileSync(file, 'utf8');
    ids.set(file, new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1])));
  }
  return ids.get(file);
}

const problems = [];
const pages = htmlFiles(dist);
let checked = 0;
for (const file of pages) {
  const html = readFileSync(file, 'utf8')
    .replace(/<script[\s\S]*?<\/script>/g, '')
    .replace(/<pre[\s\S]*?<\/pre>/g, '');
  const pageUrl = `/${relative(dist, file).split('\\').join('/')}`;
  for (const m of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
    const link = m[1].replace(/&amp;/g, '&');
    if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('//')) continue;
    checked++;
    const [pathPart, anchor] = link.split('#');
    const target = pathPart === '' ? file : fileOf(posix.resolve(posix.dirname(pageUrl), pathPart));
    const where = relative(dist, file);
    if (!target) {
      problems.push(`${where}: dead link ${link}`);
    } else if (
      anchor &&
      target.endsWith('.html') &&
      !idsOf(target).has(decodeURIComponent(anchor))
    ) {
      problems.push(`${where}: no #${anchor} in ${relative(dist, target)} (${link})`);
    }
  }
}
if (problems.length) {
  console.error(
    `check-links: ${problems.length} broken link(s) in ${pages.length} pages:\n  ${problems.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`check-links: ${checked} internal links in ${pages.length} pages, all resolve`);
