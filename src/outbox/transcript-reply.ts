import type { Db } from '../db';
import { isFailure, type ResultFile, type TranscriptResult } from '../domain/transcript';
import { formatContentType, renderTranscript } from '../formats';
import { text } from '../messages';
import { orderFiles } from '../orders/summary';
import type { BlobStore } from '../ports/blob-store';
import type { OutgoingFile } from '../ports/channel';
import { resultKey } from '../ports/runner';
import { uniqueStems } from './result-names';

/**
 * Builds the transcript reply from the results in the store, at send time, so the outbox holds
 * no copies: the text itself when it fits the platform's limit (a preview otherwise, plus NAME.txt),
 * and always NAME_result.json and NAME.srt for each file.
 */
export async function buildTranscriptReply(
  db: Db,
  store: BlobStore,
  orderId: string,
  textLimit: number,
): Promise<{ text: string; files: OutgoingFile[] }> {
  const done = orderFiles(db, orderId).filter((f) => f.state === 'done');
  const stems = uniqueStems(done.map((f) => f.name));
  const results: { stem: string; result: TranscriptResult }[] = [];
  for (const [i, file] of done.entries()) {
    const parsed = JSON.parse((await store.getBuffer(resultKey(file.blobKey))).toString('utf8')) as ResultFile;
    if (!isFailure(parsed)) results.push({ stem: stems[i], result: { ...parsed, file: file.name } });
  }

  const sections = results.map(({ result }) => {
    const body =
      result.noSpeech || !result.text.trim()
        ? text.noSpeech(result.file)
        : results.length > 1
          ? `${result.file}:\n${result.text.trim()}`
          : result.text.trim();
    // Said plainly, beside the text it concerns: the transcript stops where the charge did.
    return result.cutAt !== undefined ? `${body}\n\n${text.cut(result.file, result.cutAt)}` : body;
  });
  const whole = sections.join('\n\n');
  const fits = whole.length <= textLimit;
  const files: OutgoingFile[] = [];
  for (const { stem, result } of results) {
    files.push(file(`${stem}_result.json`, 'json', renderTranscript(result, 'json')));
    files.push(file(`${stem}.srt`, 'srt', renderTranscript(result, 'srt')));
    if (!fits) files.push(file(`${stem}.txt`, 'txt', renderTranscript(result, 'txt')));
  }
  return { text: fits ? whole : preview(whole, textLimit), files };
}

function file(name: string, format: 'json' | 'srt' | 'txt', content: string): OutgoingFile {
  return { name, contentType: formatContentType[format], content: Buffer.from(content, 'utf8') };
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
