import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * package.json says what the service needs: every package the running code imports is a dependency, every package
 * only tests, benchmarks and build steps import is a devDependency, and nothing is used without being declared
 * (a package that arrives only as some other package's dependency can vanish with its next release).
 */
interface Manifest {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  engines: { node: string };
}
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Manifest;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'payload' ? [] : sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

/** The npm packages `files` import (static, dynamic, re-export; type-only imports need no installed package). */
function importedPackages(files: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of files) {
    // Comment lines out: a JSDoc `import('estree')` names a type, not a package.
    const text = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\*|\/\*|\/\/)/.test(line))
      .join('\n');
    for (const match of text.matchAll(
      /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm,
    )) {
      if (match[1]) continue;
      const specifier = match[2] ?? match[3]!;
      if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
      if (!found.has(name)) found.set(name, file);
    }
  }
  return found;
}

const isTest = (file: string) => /\.test\.ts$|(^|\/)test\//.test(file);
// scripts/bundle.ts runs at image build, with the dev dependencies installed; the other scripts run in `npm ci`.
const isBuildTool = (file: string) => file === join('scripts', 'bundle.ts');
const runtimeFiles = ['src', 'bots', 'mail', 'whisper-container/src', 'scripts']
  .flatMap(sourceFiles)
  .filter((f) => !isTest(f) && !isBuildTool(f));
const toolingFiles = [
  ...['test', 'bench', 'bots', 'mail', 'whisper-container', 'eslint', 'scripts']
    .flatMap(sourceFiles)
    .filter((f) => !runtimeFiles.includes(f)),
  'eslint.config.js',
  'vitest.config.ts',
  'drizzle.config.ts',
];

describe('package.json', () => {
  it('declares every package the service, the worker and the install steps import as a dependency', () => {
    const missing = [...importedPackages(runtimeFiles)]
      .filter(([name]) => !(name in pkg.dependencies))
      .map(([name, file]) => `${name} (${file})`);
    expect(missing).toEqual([]);
  });

  it('declares every package tests, benchmarks and build tools import', () => {
    const declared = { ...pkg.dependencies, ...pkg.devDependencies };
    const missing = [...importedPackages(toolingFiles)].filter(([name]) => !(name in declared)).map(([name, file]) => `${name} (${file})`);
    expect(missing).toEqual([]);
  });

  it('keeps test-only packages out of the dependencies', () => {
    const used = importedPackages(runtimeFiles);
    expect(pkg.devDependencies).toHaveProperty('music-metadata');
    expect(used.has('music-metadata')).toBe(false);
    expect(pkg.dependencies).not.toHaveProperty('music-metadata');
    expect(pkg.devDependencies).toHaveProperty('esbuild');
    expect(pkg.devDependencies).toHaveProperty('ws');
  });

  it('makes the 2018 static ffmpeg optional: an install where it fails still works with a system ffmpeg', () => {
    expect(pkg.dependencies).not.toHaveProperty('@ffmpeg-installer/linux-x64');
    expect(pkg.optionalDependencies).toHaveProperty('@ffmpeg-installer/linux-x64');
  });

  it('needs the current Node LTS: 22 or later', () => {
    expect(pkg.engines.node).toBe('>=22');
    expect(pkg.devDependencies['@types/node']).toMatch(/^22\./);
  });
});
