// @ts-check
/**
 * `layers/imports`: which code may import which. ESLint's `no-restricted-imports` matches the import string
 * as written, so `'../mail'` from `src/` (the top-level mail adapter) and from `src/intake/` (a sibling that
 * does not exist) look alike; this rule resolves relative imports against the importing file first, and also
 * sees `import()`, `import('x').Type`, `require()` and re-exports, which the core's composition uses.
 *
 * Options (one object):
 * - `deny`: repository paths the files may not import (`'bots'` means the folder and `bots.ts`).
 * - `allow`: when set, every relative import must resolve inside one of these paths.
 * - `packages`: npm packages the files may not import (`'@aws-sdk/*'` means the whole scope).
 * - `because`: the sentence the error ends with, saying where such an import belongs.
 */
import { dirname, relative, resolve, sep } from 'node:path';

/** True when `path` (repository-relative, `/`-separated) is `entry`, `entry` plus an extension, or below it. */
function within(path, entry) {
  return path === entry || path.startsWith(`${entry}/`) || path.replace(/\.[cm]?[jt]sx?$/, '') === entry;
}

/** The npm package an import names (`@aws-sdk/client-s3/x` -> `@aws-sdk/client-s3`), or undefined for relative and node: ones. */
function packageOf(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function packageDenied(name, denied) {
  return denied.some((entry) => (entry.endsWith('/*') ? name.startsWith(entry.slice(0, -1)) : name === entry));
}

/** @type {import('eslint').Rule.RuleModule} */
const imports = {
  meta: {
    type: 'problem',
    docs: { description: 'Keep dependencies pointing inward: core without platform SDKs or adapters, the worker on its contract.' },
    schema: [
      {
        type: 'object',
        properties: {
          deny: { type: 'array', items: { type: 'string' } },
          allow: { type: 'array', items: { type: 'string' } },
          packages: { type: 'array', items: { type: 'string' } },
          because: { type: 'string' },
        },
        additionalProperties: false,
      },
    ],
    messages: {
      path: "'{{specifier}}' ({{path}}) may not be imported here: {{because}}",
      package: "'{{specifier}}' may not be imported here: {{because}}",
    },
  },
  create(context) {
    const { deny = [], allow, packages = [], because = 'see eslint.config.js' } = context.options[0] ?? {};
    const root = context.cwd;
    const from = dirname(context.filename);

    /** @param {import('estree').Node} node @param {unknown} specifier */
    function check(node, specifier) {
      if (typeof specifier !== 'string') return;
      const name = packageOf(specifier);
      if (name !== undefined) {
        if (packageDenied(name, packages)) context.report({ node, messageId: 'package', data: { specifier, because } });
        return;
      }
      if (!specifier.startsWith('.')) return;
      const path = relative(root, resolve(from, specifier)).split(sep).join('/');
      const refused = deny.some((entry) => within(path, entry)) || (allow !== undefined && !allow.some((entry) => within(path, entry)));
      if (refused) context.report({ node, messageId: 'path', data: { specifier, path, because } });
    }

    /** A string literal's value, or a template literal's when it has no expressions. */
    const literal = (node) =>
      node?.type === 'Literal'
        ? node.value
        : node?.type === 'TemplateLiteral' && node.expressions.length === 0
          ? node.quasis[0].value.cooked
          : undefined;

    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => check(node, literal(node.source)),
      CallExpression: (node) => {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require') check(node, literal(node.arguments[0]));
      },
      // TypeScript-only forms: `import('x').Type` and `import x = require('x')`.
      /** @param {any} node */
      TSImportType: (node) => check(node, node.source?.value ?? node.argument?.literal?.value),
      /** @param {any} node */
      TSExternalModuleReference: (node) => check(node, literal(node.expression)),
    };
  },
};

export default { meta: { name: 'layers' }, rules: { imports } };
