/**
 * The operators' reference stays true to the code: the configuration schema, `.env.example` and the
 * tables in docs/configuration.md name the same variables, with the same defaults, and the repository
 * carries its own docs (no pointer to a file outside it, no broken relative link).
 *
 * Adding a variable: add it to the schema in src/config.ts (or read it where it is needed), then one
 * row to a table in docs/configuration.md and, when `npm start` reads it, one line to `.env.example`.
 */
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config';
import { workerEnvSchema } from '../../whisper-container/src/config';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** Variables the code reads that are no operator's business, and why. */
const NOT_FOR_OPERATORS: Record<string, string> = {
  PATH: 'handed on to worker processes as the system set it',
  HOME: 'handed on to worker processes as the system set it',
  CRASH_AT: 'crash injection, set only by the crash-safety tests',
  CRASH_MARKER: 'crash injection, set only by the crash-safety tests',
};

/** Defaults computed on the machine at start, which the docs describe in words. */
const COMPUTED_DEFAULTS = new Set(['WHISPER_THREADS']);

/** Folders the code an operator runs lives in (tests and benchmarks excluded). */
const CODE_DIRS = ['src', 'bots', 'mail', 'whisper-container/src', 'scripts'];

const SKIP_DIRS = new Set(['node_modules', '.git', 'build', 'data', 'coverage', 'dist']);

/** Every regular text file of the project, as paths relative to the root; links are not followed. */
function projectFiles(dir = root): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...projectFiles(path));
    } else if (entry.isFile() && lstatSync(path).size < 4 * 1024 * 1024) {
      out.push(relative(root, path));
    }
  }
  return out;
}

const files = projectFiles().filter((path) => !readFileSync(join(root, path)).includes(0));
const codeFiles = files.filter(
  (path) =>
    CODE_DIRS.some((dir) => path.startsWith(`${dir}/`)) && /\.(ts|js|mjs|cjs)$/.test(path) && !/(^|\/)test\/|\.test\.ts$/.test(path),
);

/** Names the code reads from the environment: `env.NAME`, `env['NAME']`, `helper(env, 'NAME')`. */
function variablesReadByCode(): Map<string, string> {
  const reads = new Map<string, string>();
  const patterns = [
    /\benv\.([A-Z][A-Z0-9_]*)\b/g,
    /\benv\[\s*['"`]([A-Z][A-Z0-9_]*)['"`]\s*\]/g,
    /\(\s*env\s*,\s*['"`]([A-Z][A-Z0-9_]*)['"`]/g,
  ];
  for (const path of codeFiles) {
    const source = read(path);
    for (const pattern of patterns) for (const match of source.matchAll(pattern)) if (!reads.has(match[1])) reads.set(match[1], path);
  }
  return reads;
}

/** Upper-case names quoted anywhere in the code, e.g. credential variables handed on by name. */
function namesQuotedInCode(): Set<string> {
  const names = new Set<string>();
  for (const path of codeFiles) for (const match of read(path).matchAll(/['"`]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"`]/g)) names.add(match[1]);
  return names;
}

interface DocRow {
  name: string;
  defaultCell: string;
  meaning: string;
}

/** Rows of every table in docs/configuration.md whose first cell is exactly one `VARIABLE`. */
function documentedVariables(): DocRow[] {
  const rows: DocRow[] = [];
  for (const line of read('docs/configuration.md').split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((cell) => cell.trim());
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0] ?? '')?.[1];
    if (name) rows.push({ name, defaultCell: cells[1] ?? '', meaning: cells.slice(2).join(' | ') });
  }
  return rows;
}

/** `NAME=value` lines of `.env.example`, commented out or not. */
function exampleVariables(): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const line of read('.env.example').split('\n')) {
    const match = /^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) out.push({ name: match[1], value: match[2].trim().replace(/^(["'])(.*)\1$/, '$2') });
  }
  return out;
}

const schemaVariables = Object.keys(configSchema.shape);
const docRows = documentedVariables();
const documented = new Set(docRows.map((row) => row.name));
const example = exampleVariables();
const inExample = new Set(example.map((entry) => entry.name));
const readByCode = variablesReadByCode();
// The worker reads its variables through a schema, as the service does.
for (const name of Object.keys(workerEnvSchema.shape)) if (!readByCode.has(name)) readByCode.set(name, 'whisper-container/src/config.ts');
/** Variables docker-compose.yml takes from `.env` (`${NAME}`, `${NAME:-default}`, `${NAME:?message}`). */
const composeVariables = [...new Set([...read('docker-compose.yml').matchAll(/(?<!\$)\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!))];

const duplicates = (names: string[]) => names.filter((name, i) => names.indexOf(name) !== i);

describe('configuration reference', () => {
  it('finds the variables where it looks for them', () => {
    // Guards the scanners themselves: were they to find nothing, every check below would pass.
    expect(schemaVariables).toContain('PORT');
    expect(documented).toContain('PORT');
    expect(inExample).toContain('PORT');
    expect(readByCode.has('FFMPEG_PATH')).toBe(true);
    expect(composeVariables).toContain('DOMAIN');
  });

  it('documents every variable docker-compose.yml reads, in docs/configuration.md and .env.example', () => {
    expect(
      composeVariables.filter((name) => !documented.has(name)),
      'missing from the tables in docs/configuration.md',
    ).toEqual([]);
    expect(
      composeVariables.filter((name) => !inExample.has(name)),
      'missing from .env.example',
    ).toEqual([]);
  });

  it('documents every variable of the configuration schema, in docs/configuration.md and .env.example', () => {
    expect(
      schemaVariables.filter((name) => !documented.has(name)),
      'missing from the tables in docs/configuration.md',
    ).toEqual([]);
    expect(
      schemaVariables.filter((name) => !inExample.has(name)),
      'missing from .env.example',
    ).toEqual([]);
  });

  it('documents every variable the code reads from the environment', () => {
    const undocumented = [...readByCode]
      .filter(([name]) => !documented.has(name) && !(name in NOT_FOR_OPERATORS))
      .map(([name, path]) => `${name} (read in ${path})`);
    expect(undocumented, 'add a row to docs/configuration.md').toEqual([]);
  });

  it('documents no variable that nothing reads', () => {
    const known = new Set([...schemaVariables, ...readByCode.keys(), ...namesQuotedInCode(), ...composeVariables]);
    expect(
      docRows.map((row) => row.name).filter((name) => !known.has(name)),
      'documented in docs/configuration.md, read nowhere',
    ).toEqual([]);
    expect(
      [...inExample].filter((name) => !documented.has(name)),
      'in .env.example but not in docs/configuration.md',
    ).toEqual([]);
  });

  it('names each variable once, with a default and a meaning', () => {
    expect(duplicates(docRows.map((row) => row.name)), 'rows repeated in docs/configuration.md').toEqual([]);
    expect(duplicates(example.map((entry) => entry.name)), 'lines repeated in .env.example').toEqual([]);
    expect(
      docRows.filter((row) => !row.defaultCell || !row.meaning).map((row) => row.name),
      'rows without a default or a meaning',
    ).toEqual([]);
  });

  it("states the schema's defaults", () => {
    const defaults = configSchema.parse({}) as Record<string, unknown>;
    const wrong = docRows
      .filter((row) => defaults[row.name] !== undefined && !COMPUTED_DEFAULTS.has(row.name))
      .filter((row) => !row.defaultCell.includes(`\`${String(defaults[row.name])}\``))
      .map((row) => `${row.name}: the code says ${String(defaults[row.name])}, the docs say ${row.defaultCell}`);
    expect(wrong).toEqual([]);
  });

  it('gives example values in .env.example that the configuration accepts', () => {
    const shape = configSchema.shape as Record<string, { safeParse(value: unknown): { success: boolean } }>;
    const rejected = example
      .filter((entry) => entry.value !== '' && !entry.value.endsWith('...') && shape[entry.name])
      .filter((entry) => !shape[entry.name].safeParse(entry.value).success)
      .map((entry) => `${entry.name}=${entry.value}`);
    expect(rejected).toEqual([]);
  });
});

describe('the repository carries its own docs', () => {
  const contract = ['CONTRACT', 'md'].join('.');

  it(`names no ${contract}`, () => {
    expect(files.filter((path) => read(path).includes(contract))).toEqual([]);
  });

  it('points at no path outside the repository', () => {
    const outside: string[] = [];
    for (const path of files) {
      if (path === 'package-lock.json') continue;
      for (const match of read(path).matchAll(/(?<![\w./-])((?:\.\.\/)+)([\w.-]+)/g)) {
        const target = resolve(root, dirname(path), match[1], match[2]);
        if (relative(root, target).startsWith('..')) outside.push(`${path}: ${match[0]}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it('has no broken relative link in its markdown', () => {
    const broken: string[] = [];
    for (const path of files.filter((p) => p.endsWith('.md'))) {
      for (const match of read(path).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1].split('#')[0];
        if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        try {
          lstatSync(resolve(root, dirname(path), target));
        } catch {
          broken.push(`${path}: ${match[1]}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('lists every page of docs/ in docs/README.md', () => {
    const index = read('docs/README.md');
    const pages = files.filter((path) => /^docs\/[^/]+\.md$/.test(path) && path !== 'docs/README.md');
    expect(pages.filter((path) => !index.includes(`](${path.slice('docs/'.length)})`))).toEqual([]);
  });
});
