/** File extensions of audio and video containers: what a recording is called when its type says nothing. */
const EXTENSIONS = new Set([
  'mp3',
  'm4a',
  'm4b',
  'aac',
  'wav',
  'wave',
  'ogg',
  'oga',
  'opus',
  'flac',
  'wma',
  'amr',
  'aiff',
  'aif',
  'caf',
  'mpga',
  'weba',
  'webm',
  'mp4',
  'm4v',
  'mov',
  'mkv',
  'avi',
  'wmv',
  '3gp',
  '3g2',
  'mpeg',
  'mpg',
  'ogv',
  'flv',
  'ts',
  'mts',
]);

/**
 * Whether an attachment is a recording worth taking in, the same for every channel: audio or video by
 * its declared type; when the type says nothing (absent or `application/octet-stream`, as platforms
 * and mail clients label files they do not know), by its name. A declared non-media type (a PDF, an
 * image, text) is believed, so a `notes.ts` sent as text is not mistaken for a video stream.
 */
export function isMediaFile(mimeType: string | null | undefined, fileName: string | null | undefined): boolean {
  const type = (mimeType ?? '').split(';')[0].trim().toLowerCase();
  if (type.startsWith('audio/') || type.startsWith('video/') || type === 'application/ogg') return true;
  if (type !== '' && type !== 'application/octet-stream') return false;
  const ext = /\.([a-z0-9]+)$/i.exec(fileName ?? '')?.[1]?.toLowerCase();
  return ext !== undefined && EXTENSIONS.has(ext);
}
