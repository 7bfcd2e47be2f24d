// TypeDoc plugin: names each entry point's module after the import path users write
// (`@attnkit/core`, `@attnkit/models/node`) instead of its file path (`core/src`).
import { Converter, ReflectionKind } from 'typedoc';

const SUBPATHS = { testing: 'testing', node: 'node', 'cli-api': 'cli' };

export function load(app) {
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (reflection.kind !== ReflectionKind.Module) return;
    const symbol = context.getSymbolFromReflection(reflection);
    const file = symbol?.declarations?.[0]?.getSourceFile().fileName ?? '';
    const m = /packages\/([a-z-]+)\/src\/([a-z-]+)\.ts$/.exec(file.split('\\').join('/'));
    if (!m) return;
    const [, pkg, entry] = m;
    reflection.name =
      entry === 'index' ? `@attnkit/${pkg}` : `@attnkit/${pkg}/${SUBPATHS[entry] ?? entry}`;
  });
}
