import type { OutgoingFile } from '../src/ports/channel';

/**
 * Laying a reply's files out over mails no larger than a mail server takes (`MAIL_MAX_BYTES`). Attachments
 * travel base64-encoded (4 bytes for 3, plus line breaks), so sizes here are of the encoded form.
 */

/** Headers, MIME boundaries and part headers of one mail, with room to spare. */
const MAIL_OVERHEAD = 8 * 1024;
const PART_OVERHEAD = 512;

/** Bytes `bytes` of content take in a mail once base64-encoded (76-character lines and CRLF). */
export function encodedBytes(bytes: number): number {
  const base64 = Math.ceil(bytes / 3) * 4;
  return base64 + Math.ceil(base64 / 76) * 2 + PART_OVERHEAD;
}

/** Content bytes that fit in `room` encoded bytes. */
function contentFitting(room: number): number {
  return Math.max(1, Math.floor(((room - PART_OVERHEAD) * 3 * 76) / (4 * 78)) - 3);
}

/**
 * Cuts a file too large for any mail into pieces of at most `maxBytes`, at line ends where there are
 * some, named `NAME.partKofN.EXT` so that joining them in order gives the file back.
 */
export function cutFile(file: OutgoingFile, maxBytes: number): OutgoingFile[] {
  const pieces: Buffer[] = [];
  let rest = file.content;
  while (rest.length > maxBytes) {
    const newline = rest.lastIndexOf(0x0a, maxBytes - 1);
    const end = newline > 0 ? newline + 1 : maxBytes;
    pieces.push(rest.subarray(0, end));
    rest = rest.subarray(end);
  }
  if (rest.length > 0) pieces.push(rest);
  const dot = file.name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [file.name.slice(0, dot), file.name.slice(dot)] : [file.name, ''];
  return pieces.map((content, i) => ({ ...file, name: `${stem}.part${i + 1}of${pieces.length}${ext}`, content }));
}

/**
 * The files of a reply grouped into mails, in order: the first mail carries the reply's text
 * (`textBytes`, written twice, as text and HTML) and what fits beside it, each further mail what fits
 * under `maxBytes`; a file no mail can carry is cut into parts first. One group when everything fits.
 */
export function groupFiles(files: OutgoingFile[], textBytes: number, maxBytes: number): OutgoingFile[][] {
  const firstRoom = maxBytes - MAIL_OVERHEAD - 3 * textBytes;
  // Later mails carry one line of text; a piece must fit in one of them.
  const laterRoom = maxBytes - 2 * MAIL_OVERHEAD;
  const pieces = files.flatMap((f) => (encodedBytes(f.content.length) > laterRoom ? cutFile(f, contentFitting(laterRoom)) : [f]));
  const groups: OutgoingFile[][] = [[]];
  let room = firstRoom;
  for (const piece of pieces) {
    const size = encodedBytes(piece.content.length);
    if (size > room && (groups.length > 1 || groups[0].length > 0 || size > firstRoom)) {
      groups.push([]);
      room = laterRoom;
    }
    groups[groups.length - 1].push(piece);
    room -= size;
  }
  return groups;
}
