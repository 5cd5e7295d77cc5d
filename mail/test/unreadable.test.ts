/**
 * A mail whose body cannot be fetched, however often it is tried, is given up on: the sender is told through
 * the core (which says it once per message id) instead of the mail being marked seen without a word.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log';
import { RecordingHandler } from '../../test/support/recording-handler';
import { Inbound } from '../inbound';
import type { FetchedMail } from '../mailbox';
import { SenderPolicy } from '../sender-policy';

const header = Buffer.from('From: Ann <ann@example.test>\r\nMessage-ID: <talk@example.test>\r\nSubject: talk\r\n\r\n');

describe('a mail whose body cannot be fetched', () => {
  it('is given up on after its attempts, and the core is asked to tell the sender', async () => {
    const handler = new RecordingHandler({ gaveUp: true });
    const inbound = new Inbound({
      onMessage: handler.handle,
      policy: new SenderPolicy({ senderAuth: 'none', ownAddresses: ['service@example.test'] }),
      maxFileBytes: 1_000_000,
      log: silentLogger,
    });
    const mail: FetchedMail = {
      uid: 7,
      header,
      size: 10_000,
      source: () => Promise.reject(new Error('connection reset')),
    };
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) outcomes.push(await inbound.handleMail(mail).catch(() => 'thrown'));
    expect(outcomes).toEqual(['thrown', 'thrown', 'thrown', 'thrown', 'seen']);
    expect(handler.givenUp).toEqual(['mail:ann@example.test:<talk@example.test>']);
    expect(handler.messages).toHaveLength(0);
  });
});
