import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { emailBudgetDomain, FREE_MAIL_PROVIDERS, isFreeMailProvider, mailboxIdentity } from '../../src/email-identity';

describe('email identity and free-seconds budget', () => {
  it('counts an address against its registrable domain, whatever subdomain it picks', () => {
    expect(emailBudgetDomain('a@x.y.cheap.test')).toBe('cheap.test');
    expect(emailBudgetDomain('a@mail.example.co.uk')).toBe('example.co.uk');
    expect(emailBudgetDomain('a@Mail.Example.COM')).toBe('example.com');
    // A quoted local part may hold an @: the domain is after the last one.
    expect(emailBudgetDomain('"v@victim.test"@x.evil.test')).toBe('evil.test');
    // Free subdomains of a private suffix are one budget: anyone can mint them by the thousand.
    expect(emailBudgetDomain('a@alice.github.io')).toBe('github.io');
    expect(emailBudgetDomain('a@bob.duckdns.org')).toBe('duckdns.org');
    // A bare suffix has no registrable domain; it is its own budget.
    expect(emailBudgetDomain('a@co.uk')).toBe('co.uk');
  });

  it('knows the large free providers', () => {
    for (const d of ['gmail.com', 'outlook.com', 'hotmail.com', 'yahoo.com', 'icloud.com', 'proton.me'])
      expect(isFreeMailProvider(d), d).toBe(true);
    expect(isFreeMailProvider('cheap.test')).toBe(false);
  });

  it('gives one mailbox one identity where the provider says +tags (and Gmail dots) reach the same mailbox', () => {
    expect(mailboxIdentity('ann+news@gmail.com')).toBe('ann@gmail.com');
    expect(mailboxIdentity('a.n.n+x+y@googlemail.com')).toBe('ann@gmail.com');
    expect(mailboxIdentity('ann+1@outlook.com')).toBe('ann@outlook.com');
    expect(mailboxIdentity('ann+1@proton.me')).toBe('ann@proton.me');
    expect(mailboxIdentity('a.nn+1@icloud.com')).toBe('a.nn@icloud.com');
  });

  it('leaves addresses alone where a +tag may be another mailbox', () => {
    expect(mailboxIdentity('ann+1@cheap.test')).toBe('ann+1@cheap.test');
    expect(mailboxIdentity('a.nn@cheap.test')).toBe('a.nn@cheap.test');
    expect(mailboxIdentity('ann+1@yahoo.com')).toBe('ann+1@yahoo.com');
    expect(mailboxIdentity('"ann+1"@gmail.com')).toBe('"ann+1"@gmail.com');
    expect(mailboxIdentity('+x@gmail.com')).toBe('+x@gmail.com');
  });

  it('reads one domain however it is spelled: a root dot, full-width letters, A-labels or Unicode', () => {
    // A sender policy that compares domains as DNS does passes all of these as gmail.com: so must the identity.
    expect(mailboxIdentity('a.nn+2@gmail.com.')).toBe('ann@gmail.com');
    expect(mailboxIdentity('ann+3@\uff47mail.com')).toBe('ann@gmail.com');
    expect(emailBudgetDomain('ann@\uff47mail.com..')).toBe('gmail.com');
    expect(emailBudgetDomain('x@mail.\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com.')).toBe('example.com');
    expect(mailboxIdentity('ann+1@xn--bcher-kva.example')).toBe('ann+1@b\u00fccher.example');
    expect(mailboxIdentity('ann+1@b\u00fccher.example.')).toBe('ann+1@b\u00fccher.example');
    expect(mailboxIdentity('ann@cheap.test')).toBe('ann@cheap.test');
  });
});

describe('the documented list of large free mail providers', () => {
  it('is the list in the code, and so are the providers whose +tags are dropped', () => {
    const doc = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/limits.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### Email identities'));
    const listed = /to the code\):\n([\s\S]*?)\.\n/
      .exec(section)?.[1]
      .split(/,\s*/)
      .map((d) => d.trim());
    expect(listed).toEqual(Object.keys(FREE_MAIL_PROVIDERS));
    const keepTags = Object.entries(FREE_MAIL_PROVIDERS)
      .filter(([, p]) => !p.plusTags)
      .map(([d]) => d.replace(/^gmx\..*/, 'gmx.*'));
    const documented = /\(all above but ([^)]*)\)/
      .exec(section)?.[1]
      .split(/,\s*|\s+and\s+/)
      .map((d) => d.trim());
    expect(documented).toEqual([...new Set(keepTags)]);
  });
});
