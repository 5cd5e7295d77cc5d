/** Keys are made from ids by the service; this refuses anything else so no key can walk out of the store. */
const SAFE_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** Throws unless `key` is a relative path of safe segments (no `..`, no leading slash, no backslash). */
export function assertSafeKey(key: string): string {
  if (key.length > 512 || !SAFE_KEY.test(key) || key.split('/').some((part) => part === '..' || part === '.')) {
    throw new Error(`unsafe blob key: ${JSON.stringify(key.slice(0, 80))}`);
  }
  return key;
}
