/** The small pages a payer lands on after Stripe Checkout. Static text: nothing from the query is echoed. */
const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style>
</head><body><h1>${title}</h1><p>${body}</p></body></html>
`;

export const successPage = page(
  'Payment received',
  'Thank you. Your recording is being transcribed now; the transcript arrives in the same chat or email thread you sent it from, usually within a few minutes. You can close this page.',
);

export const cancelPage = page(
  'Payment cancelled',
  'Nothing was charged. The payment link in your chat stays valid until it expires, if you change your mind.',
);
