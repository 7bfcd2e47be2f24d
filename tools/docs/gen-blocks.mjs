#!/usr/bin/env node
// Generates the docs pages that come from the code, so a new block or package appears without
// hand edits (run by `npm run docs:build` and `docs:dev`; the output is gitignored):
//   docs/blocks/<family>.md   every registered type, grouped by the directory that registers it:
//                             summary, paper, equation, config fields (from its zod schema) and
//                             its example config as a runnable snippet
//   docs/packages/<pkg>.md    each package's README, links rewritten for the site
// `--out <dir>` writes the block pages there (and nothing else); `--check` only verifies that every registered type lands on a page and has its metadata.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadRegistry, root } from './load-registry.mjs';
import { FAMILIES, familyOf, exampleSnippet, importsFor } from './families.mjs';
import { rewriteLink } from './links.mjs';

const docs = join(root, 'docs');

function cell(text) {
  return String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
}

/** One row per config field: name, type, required/default, constraints, description. */
function fieldRows(z, schema) {
  let json;
  try {
    json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' });
  } catch {
    return undefined;
  }
  if (json.type !== 'object' || !json.properties) return undefined;
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties)
    .filter(([name]) => name !== 'type')
    .map(([name, p]) => [
      `\`${name}\``,
      cell(typeOf(p)),
      required.has(name)
        ? 'required'
        : p.default !== undefined
          ? `\`${JSON.stringify(p.default)}\``
          : '',
      cell(constraints(p)),
      cell(p.description ?? ''),
    ]);
}

function typeOf(p) {
  if (p.const !== undefined) return `\`${JSON.stringify(p.const)}\``;
  if (p.enum) return p.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  const alts = p.anyOf ?? p.oneOf;
  if (alts) return alts.map(typeOf).join(' \\| ');
  if (p.type === 'array') return `${p.items ? typeOf(p.items) : 'any'}[]`;
  if (p.type === 'object') return 'object';
  if (Array.isArray(p.type)) return p.type.join(' \\| ');
  return p.type ?? 'any';
}

function constraints(p) {
  const out = [];
  const MAX = 9007199254740991;
  if (p.exclusiveMinimum !== undefined) out.push(`> ${p.exclusiveMinimum}`);
  if (p.minimum !== undefined) out.push(`≥ ${p.minimum}`);
  if (p.exclusiveMaximum !== undefined) out.push(`< ${p.exclusiveMaximum}`);
  if (p.maximum !== undefined && p.maximum !== MAX) out.push(`≤ ${p.maximum}`);
  if (p.minItems !== undefined) out.push(`≥ ${p.minItems} items`);
  if (p.maxItems !== undefined) out.push(`≤ ${p.maxItems} items`);
  return out.join(', ');
}

/**
 * Registry prose as literal text: outside `code` spans, `*` and `_` (equations such as
 * `M*_{t−1}` would turn into emphasis), braces (markdown-it-attrs reads `{…}` after an element
 * as attributes, Vue reads `{{` as interpolation) and `<` (an HTML tag to Vue) are escaped.
 */
function prose(text) {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) =>
      i % 2
        ? part
        : part.replace(/[*_]/g, (c) => `\\${c}`).replace(/[{}<]/g, (c) => `&#${c.charCodeAt(0)};`),
    )
    .join('');
}

function blockSection(type, info, entry, z, category) {
  const lines = [`## \`${type}\``, ''];
  const meta = info.info;
  lines.push(`*${category}* · registered in \`${entry.sourceFile ?? '?'}\``, '');
  if (meta.summary) lines.push(prose(meta.summary), '');
  if (meta.paper)
    lines.push(
      `**Paper:** ${prose(meta.paper)}${meta.equation ? ` (${prose(meta.equation)})` : ''}`,
      '',
    );
  else if (meta.equation) lines.push(`**Equation:** ${prose(meta.equation)}`, '');
  const rows = fieldRows(z, entry.schema);
  if (rows?.length) {
    // Descriptions come from the schema's .describe(); the column is left out when none has one.
    const described = rows.some((r) => r[4]);
    const head = ['option', 'type', 'default', 'range', ...(described ? ['description'] : [])];
    lines.push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`);
    for (const r of rows) lines.push(`| ${r.slice(0, head.length).join(' | ')} |`);
    lines.push('');
  } else if (info.configKeys?.length) {
    lines.push(
      `Options: ${info.configKeys
        .filter((k) => k !== 'type')
        .map((k) => `\`${k}\``)
        .join(', ')}.`,
      '',
    );
  }
  if (meta.example !== undefined) {
    lines.push('Example (built by `packages/models/test/docs-examples.spec.ts`):', '');
    lines.push('```ts', exampleSnippet(meta.example, importsFor(entry.sourceFile)), '```', '');
  }
  return lines.join('\n');
}

async function main() {
  const check = process.argv.includes('--check');
  const { core, docsEntry, z } = await loadRegistry();
  const types = core.registeredTypes();
  const byFamily = new Map(FAMILIES.map((f) => [f.id, []]));
  const problems = [];
  for (const type of types) {
    const info = core.registryInfo(type);
    const entry = docsEntry(type);
    const family = familyOf(entry.sourceFile, info.category);
    byFamily.get(family.id).push({ type, info, entry });
    if (!info.info.summary) problems.push(`${type}: no info.summary`);
    if (info.info.example === undefined) problems.push(`${type}: no info.example`);
  }
  if (problems.length) {
    console.warn(
      `gen-blocks: warning: registered types without docs metadata:\n  ${problems.join('\n  ')}`,
    );
  }
  if (check) return;

  const at = process.argv.indexOf('--out');
  const out = at >= 0 ? process.argv[at + 1] : join(docs, 'blocks');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const index = [
    '# Blocks',
    '',
    "Every type the registry builds, grouped by family. Generated from the registry's metadata by `tools/docs/gen-blocks.mjs`.",
    '',
  ];
  index.push('| family | types |', '| --- | --- |');
  for (const family of FAMILIES) {
    const list = byFamily.get(family.id);
    if (!list.length) continue;
    index.push(
      `| [${family.title}](./${family.id}) | ${list.map((b) => `\`${b.type}\``).join(', ')} |`,
    );
    const page = [`# ${family.title}`, '', family.intro, ''];
    page.push(
      'Generated from the registry by `tools/docs/gen-blocks.mjs`: each section is one registered type.',
      '',
    );
    page.push(
      `Types: ${list.map((b) => `[\`${b.type}\`](#${b.type.replace(/[^a-z0-9-]/g, '')})`).join(', ')}.`,
      '',
    );
    for (const b of list) page.push(blockSection(b.type, b.info, b.entry, z, b.info.category));
    writeFileSync(join(out, `${family.id}.md`), page.join('\n'));
  }
  writeFileSync(join(out, 'index.md'), index.join('\n') + '\n');

  if (at >= 0) return; // --out: the block pages only (docs-examples.spec.ts runs their snippets)
  // Package pages: the READMEs, with links made to work on the site.
  const pkgOut = join(docs, 'packages');
  rmSync(pkgOut, { recursive: true, force: true });
  mkdirSync(pkgOut, { recursive: true });
  for (const dir of readdirSync(join(root, 'packages')).sort()) {
    const readme = join(root, 'packages', dir, 'README.md');
    if (!existsSync(readme)) continue;
    const text = readFileSync(readme, 'utf8').replace(
      /(!?\[[^\]]*\]\()([^)\s]+)(\))/g,
      (all, open, href, close) =>
        `${open}${rewriteLink(href, `packages/${dir}/README.md`, `packages/${dir}.md`)}${close}`,
    );
    writeFileSync(
      join(pkgOut, `${dir}.md`),
      `${text.trimEnd()}\n\nAPI reference: [@attnkit/${dir}](../api/${dir}/index.md).\n`,
    );
  }
  console.log(
    `gen-blocks: ${types.length} types on ${[...byFamily.values()].filter((l) => l.length).length} family pages`,
  );
}

await main();
