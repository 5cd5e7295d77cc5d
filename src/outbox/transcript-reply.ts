import { eq } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { isFailure, parseResultFile, type TranscriptResult } from '../domain/transcript';
import { formatContentType, renderTranscript, type TranscriptFormat } from '../formats';
import { text } from '../messages';
import { orderFiles } from '../orders/summary';
import type { BlobStore } from '../ports/blob-store';
import type { OutgoingFile } from '../ports/channel';
import { resultKey } from '../ports/runner';
import { storedFormats } from '../users';
import { uniqueStems } from './result-names';

/**
 * Builds the transcript reply from the results in the store, at send time, so the outbox holds
 * no copies: the text itself when it fits the platform's limit (a preview otherwise, plus NAME.txt),
 * with the language named, and for each file the formats the user chose (NAME_result.json and NAME.srt
 * unless they chose others with /format). A file with no speech gets its sentence and its NAME_result.json
 * only: an empty file is never attached (Telegram refuses them, and a refused part would hold back the rest).
 */
export async function buildTranscriptReply(
  db: Db,
  store: BlobStore,
  orderId: string,
  textLimit: number,
): Promise<{ text: string; files: OutgoingFile[] }> {
  const order = db.select({ formats: orders.formats, translate: orders.translate }).from(orders).where(eq(orders.id, orderId)).get();
  const formats = storedFormats(order?.formats ?? null);
  const translated = order?.translate ?? false;
  const done = orderFiles(db, orderId).filter((f) => f.state === 'done');
  const stems = uniqueStems(done.map((f) => f.name));
  const results: { stem: string; result: TranscriptResult }[] = [];
  for (const [i, file] of done.entries()) {
    // The tracker marked the file done only after reading a valid result; read it the same way here.
    const read = parseResultFile((await store.getBuffer(resultKey(file.blobKey))).toString('utf8'));
    if (read.ok && !isFailure(read.result)) results.push({ stem: stems[i], result: { ...read.result, file: file.name } });
  }

  const sections = results.map(({ result }) => {
    const body =
      result.noSpeech || !result.text.trim()
        ? text.noSpeech(result.file)
        : results.length > 1
          ? `${text.fileHeading(result.file, result.language, translated)}\n${result.text.trim()}`
          : `${result.text.trim()}\n\n${text.languageLine(result.language, translated)}`;
    // Said plainly, beside the text it concerns: the transcript stops where the charge did.
    return result.cutAt !== undefined ? `${body}\n\n${text.cut(result.file, result.cutAt)}` : body;
  });
  const whole = sections.join('\n\n');
  const fits = whole.length <= textLimit;
  const files: OutgoingFile[] = [];
  for (const { stem, result } of results) {
    // The preview points at the .txt, so it comes whenever the text does not fit, chosen or not.
    for (const format of fits || formats.includes('txt') ? formats : [...formats, 'txt' as const])
      files.push(file(format === 'json' ? `${stem}_result.json` : `${stem}.${format}`, format, renderTranscript(result, format)));
  }
  return { text: fits ? whole : preview(whole, textLimit), files: nonEmpty(files) };
}

function file(name: string, format: TranscriptFormat, content: string): OutgoingFile {
  return { name, contentType: formatContentType[format], content: Buffer.from(content, 'utf8') };
}

/** Platforms refuse empty files (Telegram answers 400) and a user gains nothing from one: a no-speech result has no subtitles. */
function nonEmpty(files: OutgoingFile[]): OutgoingFile[] {
  return files.filter((f) => f.content.length > 0);
}

const MORE = '\n\n… (the whole text is in the attached .txt file)';

/** The start of `whole`, cut at a word boundary, leaving room for the note saying where the rest is. */
function preview(whole: string, limit: number): string {
  if (limit <= MORE.length) return whole.slice(0, Math.max(0, limit - 1)) + '…';
  const room = limit - MORE.length;
  const cut = whole.slice(0, room);
  const space = cut.lastIndexOf(' ');
  return `${space > room * 0.8 ? cut.slice(0, space) : cut}${MORE}`;
}
