import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerEngine } from '../src/engine';

/**
 * What the worker does with whisper-server's answers, against a stand-in server on loopback that speaks the same
 * HTTP (`/health`, multipart `/inference`) and answers whatever the test puts in its answer file.
 */
describe("whisper-server's answers", () => {
  let dir: string;
  let server: ServerEngine;
  const answer = (body: unknown) => writeFile(join(dir, 'answer.json'), typeof body === 'string' ? body : JSON.stringify(body));
  const wav = Buffer.alloc(44 + 32000);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'server-answer-'));
    const script = join(dir, 'whisper-server');
    await writeFile(
      script,
      [
        `#!${process.execPath}`,
        "const { createServer } = require('node:http');",
        "const { readFileSync } = require('node:fs');",
        "const port = Number(process.argv[process.argv.indexOf('--port') + 1]);",
        'createServer((req, res) => {',
        "  req.on('data', () => {});",
        "  req.on('end', () => res.end(req.url === '/health' ? '{}' : readFileSync(process.env.ANSWER_FILE)));",
        "}).listen(port, '127.0.0.1');",
      ].join('\n'),
    );
    await chmod(script, 0o755);
    process.env.ANSWER_FILE = join(dir, 'answer.json');
    server = await ServerEngine.start({ binary: script, model: 'unused', threads: 1 });
  });
  afterAll(async () => {
    await server?.close();
    delete process.env.ANSWER_FILE;
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a well-formed answer', async () => {
    await answer({
      language: 'en',
      segments: [{ start: 0, end: 1.5, text: ' Hello.', no_speech_prob: 0.01, avg_logprob: -0.2 }],
    });
    expect(await server.transcribe({ wav })).toEqual({
      language: 'en',
      segments: [{ start: 0, end: 1.5, text: ' Hello.', noSpeechProb: 0.01, avgLogprob: -0.2 }],
    });
  });

  it.each([
    ['a time that is not a number', { segments: [{ start: '0', end: 1, text: 'x' }] }, /segments\.0\.start/],
    ['text that is not text', { segments: [{ start: 0, end: 1, text: 42 }] }, /segments\.0\.text/],
    ['a segment that ends before it starts', { segments: [{ start: 3, end: 1, text: 'x' }] }, /ends before it starts/],
    ['segments that are not a list', { segments: {} }, /segments/],
    ['something that is not JSON', '<html>busy</html>', /not JSON/],
  ])('refuses %s instead of writing it into a transcript', async (_, body, reason) => {
    await answer(body);
    await expect(server.transcribe({ wav })).rejects.toThrow(reason);
  });

  it("passes the server's own error on", async () => {
    await answer({ error: 'failed to read audio' });
    await expect(server.transcribe({ wav })).rejects.toThrow('whisper-server: failed to read audio');
  });
});
