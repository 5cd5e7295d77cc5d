/**
 * Bundles the service and the worker with esbuild into one file per command, so an image runs `node` on them with
 * none of the install-time packages (tsx, the whisper.cpp source, the ONNX weights the model is converted from):
 *
 *   FOLDER/app/main.mjs, admin.mjs, backup.mjs      the service (`npm start`) and its operator commands
 *   FOLDER/app/migrations/                          the database migrations, found beside the code as in src/db/
 *   FOLDER/whisper-container/main.mjs, serve.mjs    the worker (one job; the warm worker the service starts)
 *   FOLDER/node_modules/                            the native packages a bundle cannot hold (better-sqlite3)
 *
 *   npx tsx scripts/bundle.ts [FOLDER]      (default: dist)
 *
 * FOLDER must sit directly in the repository root: the code finds the engine (build/) and the prepared model (data/)
 * two folders up from its own file, where src/app/ and whisper-container/src/ have them.
 */
import { build } from 'esbuild';
import { cp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Packages loaded at run time from node_modules: a native addon, and what it requires. */
const NATIVE = ['better-sqlite3'];
/** Optional packages the bundled libraries try to load and do without (discord.js's and ws's speedups). */
const ABSENT = ['zlib-sync', 'bufferutil', 'utf-8-validate', '@ffmpeg-installer/linux-x64'];

const ENTRIES = {
  'app/main': 'src/app/main.ts',
  'app/admin': 'src/app/admin.ts',
  'app/backup': 'src/app/backup.ts',
  'whisper-container/main': 'whisper-container/src/main.ts',
  'whisper-container/serve': 'whisper-container/src/serve.ts',
};

/** Builds the bundles into `out` (replacing what was there) and returns the files written. */
export async function bundle(out = join(root, 'dist')): Promise<string[]> {
  if (dirname(resolve(out)) !== root) throw new Error(`the bundle folder must be directly in ${root}, got ${out}`);
  await rm(out, { recursive: true, force: true });
  await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, source]) => [name, join(root, source)])),
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: [...NATIVE, ...ABSENT],
    // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
    banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  await cp(join(root, 'src/db/migrations'), join(out, 'app/migrations'), { recursive: true });
  for (const name of await runtimeClosure(NATIVE)) await copyPackage(name, out);
  return Object.keys(ENTRIES).map((name) => join(out, `${name}.mjs`));
}

/** The packages `names` need at run time: their dependencies, less the ones only their install step uses. */
async function runtimeClosure(names: string[]): Promise<string[]> {
  const installOnly = new Set(['prebuild-install', 'node-gyp']);
  const seen = new Set<string>();
  const visit = async (name: string) => {
    if (seen.has(name) || installOnly.has(name)) return;
    seen.add(name);
    const manifest = JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const dependency of Object.keys(manifest.dependencies ?? {})) await visit(dependency);
  };
  for (const name of names) await visit(name);
  return [...seen];
}

/** Copies a package without its sources and build tree: only its JavaScript and a built addon (`.node`). */
async function copyPackage(name: string, out: string): Promise<void> {
  const from = createRequire(join(root, 'package.json')).resolve(`${name}/package.json`);
  const source = dirname(from);
  await cp(source, join(out, 'node_modules', name), {
    recursive: true,
    dereference: true,
    filter: (path) => {
      const inside = relative(source, path).split(sep);
      if (['deps', 'src', 'test', 'docs'].includes(inside[0]!)) return false;
      if (inside[0] === 'build')
        return inside.length < 3 || (inside[1] === 'Release' && (inside.length === 2 || basename(path).endsWith('.node')));
      return true;
    },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  bundle(process.argv[2] ? resolve(process.argv[2]) : undefined).then(
    (files) => console.error(`bundled: ${files.map((file) => relative(root, file)).join(', ')}`),
    (error: unknown) => {
      console.error(`bundle failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
