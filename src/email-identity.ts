import { domainToASCII, domainToUnicode } from 'node:url';
import { getDomain } from 'tldts';

/** How a large free provider treats the local part: which spellings reach one mailbox. */
interface Provider {
  /** `name+anything` is delivered to `name` (the provider documents it as subaddressing). */
  plusTags: boolean;
  /** Dots in the local part are ignored (Gmail). */
  ignoresDots?: boolean;
  /** Another domain of the same mailboxes (googlemail.com is gmail.com). */
  sameAs?: string;
}

/**
 * Large free mail providers (docs/limits.md lists them; a test holds the two together). Millions of people share
 * each of these domains, so the per-domain cap of free grants would starve them; each gets its own, larger budget
 * (`FREE_GRANTS_PER_FREE_MAIL_PROVIDER_PER_DAY`). Anyone can open addresses there, which is why it stays a cap.
 */
export const FREE_MAIL_PROVIDERS: Readonly<Record<string, Provider>> = {
  'gmail.com': { plusTags: true, ignoresDots: true },
  'googlemail.com': { plusTags: true, ignoresDots: true, sameAs: 'gmail.com' },
  'outlook.com': { plusTags: true },
  'hotmail.com': { plusTags: true },
  'live.com': { plusTags: true },
  'msn.com': { plusTags: true },
  'icloud.com': { plusTags: true },
  'me.com': { plusTags: true },
  'mac.com': { plusTags: true },
  'proton.me': { plusTags: true },
  'protonmail.com': { plusTags: true },
  'pm.me': { plusTags: true },
  'fastmail.com': { plusTags: true },
  'yandex.ru': { plusTags: true },
  'yandex.com': { plusTags: true },
  // These do not document `+` as subaddressing (Yahoo's disposable addresses are separate mailboxes).
  'yahoo.com': { plusTags: false },
  'ymail.com': { plusTags: false },
  'aol.com': { plusTags: false },
  'gmx.com': { plusTags: false },
  'gmx.de': { plusTags: false },
  'gmx.net': { plusTags: false },
  'web.de': { plusTags: false },
  'mail.ru': { plusTags: false },
  'qq.com': { plusTags: false },
  '163.com': { plusTags: false },
  'zoho.com': { plusTags: false },
};

/**
 * A domain as DNS compares it, in A-labels: lower-cased, no root dot, mapped as UTS-46 maps it (full-width
 * letters, `xn--` or Unicode spellings of one name). As written when it is no domain at all.
 */
function asciiDomain(domain: string): string {
  const plain = domain.trim().replace(/\.+$/, '').toLowerCase();
  return domainToASCII(plain) || plain;
}

/**
 * The domain of an address: after its last `@` (a quoted local part may hold one), one spelling per name, in
 * Unicode as people write it, so `gmail.com.`, `ＧＭＡＩＬ.com` and `gmail.com` are one domain and addresses
 * already known keep their identity.
 */
function domainOf(address: string): string {
  const ascii = asciiDomain(address.slice(address.lastIndexOf('@') + 1));
  return domainToUnicode(ascii) || ascii;
}

/**
 * The domain whose daily budget of free grants an address spends: its registrable domain by the Public Suffix
 * List, so `a@x.cheap.example` and `b@y.cheap.example` share one. Private suffixes (github.io, duckdns.org) are
 * not honoured: their subdomains are free to mint, which is exactly what the cap is for. A domain that is itself
 * a suffix is its own budget.
 */
export function emailBudgetDomain(address: string): string {
  const domain = asciiDomain(address.slice(address.lastIndexOf('@') + 1));
  return getDomain(domain, { allowPrivateDomains: false }) ?? domain;
}

/** Whether a registrable domain is one of the large free providers, with their own budget. */
export function isFreeMailProvider(domain: string): boolean {
  return Object.hasOwn(FREE_MAIL_PROVIDERS, domain);
}

/**
 * The sender's identity for an address: the mailbox it reaches. At the large free providers that say so, `+tags`
 * (and Gmail's dots) reach the same mailbox, so they are the same person and must be one user with one grant;
 * otherwise `ann+1@gmail.com`, `ann+2@gmail.com`, ... would each take free seconds and drain the provider's budget.
 * Elsewhere `ann+1@` may well be another mailbox (the delimiter is the server's choice), and merging two people
 * would let one spend the other's balance, so the address stays as written (its domain in one spelling). Replies still go to the address
 * that wrote.
 */
export function mailboxIdentity(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 1) return address;
  const domain = domainOf(address);
  const local = address.slice(0, at);
  const asWritten = `${local}@${domain}`;
  const provider = FREE_MAIL_PROVIDERS[domain];
  // A quoted local part is unusual enough at these providers to be left exactly as written.
  if (!provider || local.startsWith('"')) return asWritten;
  let mailbox = provider.plusTags ? local.split('+')[0] : local;
  if (provider.ignoresDots) mailbox = mailbox.replaceAll('.', '');
  if (!mailbox) return asWritten;
  return `${mailbox}@${provider.sameAs ?? domain}`;
}
