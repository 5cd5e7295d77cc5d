import type { ChildProcess } from 'node:child_process';
import { spawnTied } from '../../src/tied-spawn';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { parseServerAnswer } from './server-answer';

/** One segment as the engine reports it, times in seconds from the start of the audio it was given. */
export interface EngineSegment {
  start: number;
  end: number;
  text: string;
  /** Probability that the window held no speech (Whisper's no-speech token). */
  noSpeechProb: number;
  avgLogprob: number;
}

export interface EngineResult {
  /** Language as whisper.cpp names it ("english"). */
  language: string;
  segments: EngineSegment[];
}

export interface EngineRequest {
  /** A WAV file (16 kHz mono s16le). */
  wav: Buffer;
  /** Encoder frames to use (50 per second); short audio needs far fewer than the full 1500. 0 = all. */
  audioCtx?: number;
  /** ISO code or `auto`. */
  language?: string;
  translate?: boolean;
}

/** A Whisper engine with its model loaded: transcribes one piece of audio at a time. */
export interface Engine {
  transcribe(request: EngineRequest): Promise<EngineResult>;
  /**
   * The audio contexts a request may cut to are multiples of this many frames. With flash attention whisper.cpp 1.9.1
   * attends over the context rounded up to 256 frames without masking the rest, which holds whatever an earlier,
   * longer request left there (another file's audio); a context that is already a multiple of 256 leaves no such
   * frames. Without flash attention any length is safe (64: the step the context rule uses).
   */
  readonly contextStep: number;
  /** False once the engine process is gone; the job then starts a new one for the remaining inputs. */
  readonly alive: boolean;
  close(): Promise<void>;
}

export interface ServerEngineOptions {
  /** Path of `whisper-server` (built by scripts/build-whisper.ts). */
  binary: string;
  model: string;
  threads: number;
  log?: Logger;
  /** How long loading the model may take; large models on slow disks need more. */
  startTimeoutMs?: number;
  /**
   * Flash attention (default off). It halves a GPU's encoder time; cut contexts are then rounded to 256 frames
   * (see `Engine.contextStep`).
   */
  flashAttention?: boolean;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Longest one window may take. A 30 s window takes about a second for tiny.en on one CPU thread and minutes for
 * a large model on a slow CPU; past this the engine is taken to be stuck.
 */
const REQUEST_TIMEOUT_MS = 15 * 60_000;

function post(port: number, path: string, body: Buffer, contentType: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': contentType, 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('whisper-server did not answer in time')));
    req.on('error', reject);
    req.end(body);
  });
}

function multipart(fields: Record<string, string>, file: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----worker${randomUUID().replaceAll('-', '')}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  parts.push(
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="window.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
  );
  parts.push(file, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/**
 * whisper.cpp's `whisper-server` on a loopback port, started once per job so the model loads once and every
 * window of every input reuses it. Chosen over `whisper-cli` because it takes the audio context per request
 * (short voice notes use a fraction of the encoder) and reports each segment's no-speech probability, and
 * over a native addon because a crash in the engine then cannot take the job runner down with it.
 */
export class ServerEngine implements Engine {
  private exited = false;
  private closing = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly port: number,
    private readonly log: Logger | undefined,
    readonly contextStep: number,
  ) {
    child.once('exit', () => {
      this.exited = true;
    });
  }

  /** Starts the server and resolves once the model is loaded and it answers. */
  static async start(options: ServerEngineOptions): Promise<ServerEngine> {
    let lastError: unknown;
    // The free port is found before the server binds it, so another process may take it first: try again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      try {
        return await ServerEngine.launch(options, port);
      } catch (error) {
        lastError = error;
        if (!(error instanceof Error) || !/bind|address/i.test(error.message)) break;
      }
    }
    throw lastError;
  }

  private static async launch(options: ServerEngineOptions, port: number): Promise<ServerEngine> {
    const args = [
      '--model',
      options.model,
      '--threads',
      String(options.threads),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      // Language probabilities cost one more encoder pass per request; the detected language comes anyway.
      '--no-language-probabilities',
      // Each window is decoded on its own (no prompt from the previous one): a hallucination cannot carry over.
      '--max-context',
      '0',
      // Without flash attention a request's result depends on its own audio only, whatever the context's length.
      options.flashAttention ? '--flash-attn' : '--no-flash-attn',
    ];
    const child = spawnTied(options.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const engine = new ServerEngine(child, port, options.log, options.flashAttention ? 256 : 64);
    const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const fail = (why: string) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        if (child.exitCode === null) child.kill('SIGKILL');
        const detail = output
          .split('\n')
          .filter((line) => /error|fail|bind|invalid/i.test(line))
          .slice(-3)
          .join(' | ');
        reject(new Error(`whisper-server ${why}${detail ? `: ${detail}` : ''}`));
      };
      child.once('error', (error) => fail(error.message));
      child.once('exit', (code) => fail(`exited with ${code} while starting`));
      // The model loads before the port is bound, so the first answer on /health means ready.
      const timer = setInterval(() => {
        if (Date.now() > deadline) return fail('did not start in time');
        get(port, '/health').then(
          (status) => {
            if (done || status !== 200 || child.exitCode !== null) return;
            done = true;
            clearInterval(timer);
            child.removeAllListeners('exit');
            child.removeAllListeners('error');
            child.once('exit', (code, signal) => {
              engine.exited = true;
              // Said once, with how it ended: a crash (signal) and an outside kill look alike to the request in flight.
              if (!engine.closing) options.log?.warn({ code, signal }, 'whisper-server exited');
            });
            resolve();
          },
          () => undefined,
        );
      }, 50);
    });
    // Once listening, only the last lines matter for diagnosis; stop growing the buffer.
    child.stdout!.removeListener('data', keep);
    child.stderr!.removeListener('data', keep);
    child.stdout!.resume();
    child.stderr!.resume();
    options.log?.debug({ port }, 'whisper-server ready');
    return engine;
  }

  get alive(): boolean {
    return !this.exited;
  }

  async transcribe(req: EngineRequest): Promise<EngineResult> {
    const fields: Record<string, string> = {
      response_format: 'verbose_json',
      temperature: '0',
      // Token-level times are not used (segments carry their own) and cost time on every segment.
      token_timestamps: 'false',
      language: req.language ?? 'en',
      translate: req.translate ? 'true' : 'false',
      audio_ctx: String(req.audioCtx ?? 0),
    };
    const { body, contentType } = multipart(fields, req.wav);
    let response;
    try {
      response = await post(this.port, '/inference', body, contentType);
    } catch (error) {
      // A stuck or broken engine is not reused: stopping it makes the pool start a fresh one for the next window.
      if (!this.exited) this.child.kill('SIGKILL');
      throw error;
    }
    if (response.status !== 200) throw new Error(`whisper-server answered ${response.status}: ${response.body.slice(0, 200)}`);
    return parseServerAnswer(response.body);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.closing = true;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
    this.log?.debug('whisper-server stopped');
  }
}
