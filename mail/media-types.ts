const EXTENSIONS = new Set([
  'mp3', 'm4a', 'm4b', 'aac', 'wav', 'wave', 'ogg', 'oga', 'opus', 'flac', 'wma', 'amr', 'aiff', 'aif', 'caf', 'mpga',
  'weba', 'webm', 'mp4', 'm4v', 'mov', 'mkv', 'avi', 'wmv', '3gp', '3g2', 'mpeg', 'mpg', 'ogv', 'flv', 'ts', 'mts',
]);

/** Whether an attachment looks like audio or video, by its declared type or, failing that, its name. */
export function isMedia(mimeType: string | undefined, fileName: string | undefined): boolean {
  const type = (mimeType ?? '').toLowerCase();
  if (type.startsWith('audio/') || type.startsWith('video/') || type === 'application/ogg') return true;
  const ext = /\.([a-z0-9]+)$/i.exec(fileName ?? '')?.[1]?.toLowerCase();
  return ext !== undefined && EXTENSIONS.has(ext);
}
