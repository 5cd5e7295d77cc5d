import { Transform, type TransformCallback } from 'node:stream';
import { Splitter, type MimeNode, type SplitterChunk } from '@zone-eu/mailsplit';

/** Types mailparser keeps in memory as the mail's text when no disposition makes them attachments. */
const TEXT_TYPES = new Set(['text/plain', 'text/html', 'message/delivery-status']);

/** A mail whose text parts go past the budget: refused whole, since mailparser would hold all of it. */
export class MailTextTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the mail's text parts are over ${limit} bytes`);
    this.name = 'MailTextTooLarge';
  }
}

/** Whether mailparser holds this part's body as text: its own rule (`createNode`), on the same splitter's node. */
function heldAsText(node: MimeNode): boolean {
  if (node.multipart) return false;
  const type = node.contentType || (node.root ? 'text/plain' : false);
  if (!type || !TEXT_TYPES.has(type)) return false;
  return !node.disposition || node.disposition === 'inline';
}

/**
 * Passes a raw mail through unchanged while the same MIME splitter mailparser uses reads it alongside, counting
 * the bytes of every part mailparser will keep in memory as text; past `limit` the stream fails with
 * `MailTextTooLarge`. The server's BODYSTRUCTURE cannot be trusted for this: a second Content-Disposition, a
 * second boundary or a delivery-status part are read one way by the server and another by mailparser.
 */
export class TextBudget extends Transform {
  private readonly splitter = new Splitter();
  private counting = false;
  private held = 0;
  private failure?: Error;
  /** The splitter gave up on the mail: mailparser will too, with its own error, so counting stops here. */
  private unreadable = false;

  constructor(private readonly limit: number) {
    super();
    this.splitter.on('data', (chunk: SplitterChunk) => {
      if (chunk.type === 'node') this.counting = heldAsText(chunk);
      else if (chunk.type === 'body' && this.counting) {
        this.held += chunk.value.length;
        if (this.held > this.limit) this.failure ??= new MailTextTooLarge(this.limit);
      }
    });
    // A mail the splitter cannot read fails in mailparser too, with its own error: leave that one to it.
    // (Its typings list only 'data'; it is a Node stream and errors as one.)
    Transform.prototype.on.call(this.splitter, 'error', () => (this.unreadable = true));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.unreadable) return done(null, chunk);
    this.splitter.write(chunk, () => done(this.failure, this.failure ? undefined : chunk));
  }

  override _flush(done: TransformCallback): void {
    if (this.unreadable) return done();
    this.splitter.end(() => done(this.failure));
  }
}
