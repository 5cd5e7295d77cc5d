/**
 * Every sentence the service says to users, in one place, so all channels speak alike.
 * Plain text; adapters add their platform's presentation.
 */

import { languageName } from './domain/languages';
import type { ModelInfo } from './domain/models';

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** 560 -> "9 min 20 s", 45 -> "45 s", 3600 -> "60 min". */
export function minutes(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  const rest = s % 60;
  if (m === 0) return `${rest} s`;
  return rest === 0 ? `${m} min` : `${m} min ${rest} s`;
}

/** 150 + usd -> "$1.50"; other currencies -> "1.50 EUR"; Telegram Stars (xtr, whole units) -> "25 Stars". */
export function money(cents: number, currency: string): string {
  if (currency.toLowerCase() === 'xtr') return `${cents} ${cents === 1 ? 'Star' : 'Stars'}`;
  const amount = (cents / 100).toFixed(2);
  return currency === 'usd' ? `$${amount}` : `${amount} ${currency.toUpperCase()}`;
}

/** How a choice is written on a channel: `/format vtt` in chats, `format: vtt` in email. */
function choice(channel: string | undefined, name: string, args: string): string {
  return channel === 'email' ? `"${name}: ${args}"` : `/${name} ${args}`;
}

export const text = {
  /**
   * Email has no commands: its replies state the balance instead, and choices are lines in the message.
   * `freeSeconds` is what this user was granted: free time is promised only to someone who got it.
   */
  help: (freeSeconds: number, channel?: string, model?: ModelInfo) =>
    [
      channel === 'email'
        ? 'Email me audio or video files as attachments, and I will reply with the transcript as text, a JSON file with timings and subtitles (SRT).'
        : 'Send me a voice message, an audio or video file, and I will send back its transcript as text, a JSON file with timings and subtitles (SRT).',
      freeSeconds > 0
        ? `New users get ${minutes(freeSeconds)} free; after that you pay per minute of audio.`
        : 'You pay per minute of audio.',
      channel === 'email'
        ? 'Every reply tells you how much time you have left. To choose, write a line such as "language: de", "translate: on" or "format: srt vtt" (txt, srt, vtt, json) in the subject or the body; I keep your choices for later mail.'
        : 'Commands: /balance shows your seconds left, /language CODE sets the spoken language (for example /language de), /language auto detects it, /translate on|off translates into English, /format chooses the files you get (txt, srt, vtt, json; for example /format srt vtt).',
      ...(model?.englishOnly ? [text.englishOnlyModel(model)] : []),
    ].join('\n'),
  /** Said in /help and whenever a choice needs another language than English. */
  englishOnlyModel: (model: ModelInfo) =>
    `This service runs the English-only model ${model.name}: it transcribes English speech only, and cannot detect or translate other languages.`,
  start: (balance: number, freeSeconds: number, channel?: string, model?: ModelInfo) =>
    `Welcome! You have ${minutes(balance)} of transcription left.\n\n${text.help(freeSeconds, channel, model)}`,
  balance: (balance: number) => `You have ${minutes(balance)} of transcription left.`,
  /** The line under every email reply, which stands in for the /balance command. */
  balanceLine: (balance: number) => `Balance: ${minutes(balance)}`,
  languageSet: (code: string, model?: ModelInfo) =>
    code === 'auto'
      ? model?.englishOnly
        ? `I will transcribe your next recordings as English. ${text.englishOnlyModel(model)}`
        : 'I will detect the language of your next recordings.'
      : `I will transcribe your next recordings as ${languageName(code)} ("${code}").`,
  /** The answer to a language other than English on an English-only model: refused, nothing changes. */
  languageEnglishOnly: (code: string, model: ModelInfo) =>
    `I can't transcribe ${languageName(code)}: this service runs the English-only model ${model.name}, which would turn ${languageName(code)} speech into English-sounding nonsense. Your recordings stay transcribed as English.`,
  languageInvalid: (channel?: string) =>
    `Use ${choice(channel, 'language', 'CODE')} with a language code such as en, de or es, or ${choice(channel, 'language', 'auto')}.`,
  translateSet: (on: boolean) =>
    on
      ? 'I will translate your next recordings into English.'
      : 'I will transcribe your next recordings in the language they are spoken in.',
  /** The answer to translate on an English-only model: refused, nothing changes. */
  translateEnglishOnly: (model: ModelInfo) => `I can't translate: ${text.englishOnlyModel(model)}`,
  translateInvalid: (channel?: string) => `Use ${choice(channel, 'translate', 'on')} or ${choice(channel, 'translate', 'off')}.`,
  formatSet: (formats: readonly string[]) => `Your next transcripts come with these files: ${formats.join(', ')}.`,
  formatInvalid: (channel?: string) =>
    `Use ${choice(channel, 'format', 'FORMATS')} with one or more of txt, srt, vtt and json (for example ${choice(channel, 'format', 'srt vtt')}), or ${choice(channel, 'format', 'default')} for json and srt.`,
  /** Names the language of a transcript under its text: the detected one, or the one it was translated from. */
  languageLine: (code: string, translated: boolean) =>
    translated ? `Translated from ${languageName(code)} into English.` : `Language: ${languageName(code)}.`,
  /** Heads each file's text in a reply with several. */
  fileHeading: (name: string, code: string, translated: boolean) =>
    `${name} (${translated ? `translated from ${languageName(code)}` : languageName(code)}):`,
  unknownCommand: (name: string) => `I don't know /${name}. ${text.commandsLine()}`,
  commandsLine: () => 'Try /help, /balance, /language CODE, /translate on|off or /format.',
  noAttachment: (freeSeconds: number, channel?: string, model?: ModelInfo) =>
    `Please send an audio or video file; I transcribe recordings only.\n\n${text.help(freeSeconds, channel, model)}`,
  fileLine: (name: string, duration: number) => `• ${name} (${clock(duration)})`,
  refusedLine: (name: string, reason: string) => `• ${name}: ${reason}`,
  refusals: {
    notAudio: 'not an audio or video file I can read, so I skipped it',
    noSound: 'a video with no sound track, so there is nothing to transcribe and I skipped it',
    tooLarge: (limit: number) => `larger than the ${formatBytes(limit)} limit, so I skipped it`,
    tooLong: (limit: number) => `longer than the ${clock(limit)} limit, so I skipped it`,
    unavailable: 'the platform would not let me download it, so I skipped it',
    stalled: (seconds: number) => `the download stopped for ${minutes(seconds)}, so I skipped it; please send it again`,
    tooMany: (limit: number) => `over the limit of ${limit} files in one message, so I skipped it`,
    notMeasured: (budget: number) =>
      `could not be measured within the ${clock(budget)} the files of one message get together, so I skipped it; send it in a message of its own`,
  },
  nothingToDo: 'Nothing was charged.',
  transcribing: (balance: number) => `Transcribing now. ${minutes(balance)} left after this.`,
  needsPayment: (missing: number, price: string) =>
    `Your balance doesn't cover this: ${minutes(missing)} more is needed. Pay ${price} to transcribe it; anything above the cost stays on your balance.`,
  payButton: (price: string) => `Pay ${price}`,
  /** The quote when the invoice itself was sent to the chat just before (Telegram Stars). */
  needsInvoicePayment: (missing: number, price: string) =>
    `Your balance doesn't cover this: ${minutes(missing)} more is needed. Pay ${price} with the invoice above to transcribe it; anything above the cost stays on your balance.`,
  /** Shown by Telegram's payment form when a pre-checkout is refused. */
  invoice: {
    expired: 'This invoice has expired and the recording was not transcribed. Send it again for a new invoice.',
    settled: 'This recording is already paid for or closed, so nothing was charged.',
    changed: 'This invoice no longer matches the price of the recording. Send it again for a new invoice.',
    unknown: 'I cannot find the recording this invoice is for, so nothing was charged.',
    busy: 'I could not check this invoice just now; nothing was charged. Please try again in a minute.',
  },
  refunded: (paid: string, takenBack: number, balance: number) =>
    `Your payment of ${paid} was refunded.${takenBack > 0 ? ` I took the ${minutes(takenBack)} it bought off your balance.` : ''} You now have ${minutes(balance)}.`,
  /** A refund or dispute of `paid` took seconds back; `owed` is what the balance no longer held. */
  reversed: (how: 'refunded' | 'disputed', paid: string, taken: number, owed: number, balance: number) =>
    `Your payment of ${paid} was ${how === 'refunded' ? 'refunded' : 'disputed with your bank'}, so I took back the ${minutes(taken + owed)} it bought.${owed > 0 ? ` Your balance held only ${minutes(taken)} of them: you owe ${minutes(owed)}, which your next payment pays first.` : ''} You now have ${minutes(balance)}.`,
  disputeWon: (paid: string, back: number, balance: number) =>
    `The dispute of your payment of ${paid} was closed and the payment stands, so what it had taken back is yours again: ${minutes(back)} added to your balance. You now have ${minutes(balance)}.`,
  /** Said beside the balance while a debt is owed. */
  owed: (owed: number) => `You owe ${minutes(owed)} from a refunded or disputed payment; your next payment pays that first.`,
  /** Email: a reply whose files went over the mail size limit comes in `mails` mails; `cut` are the files sent in parts. */
  mailParts: (mails: number, cut: string[]) =>
    `The files are too large for one mail, so they come in ${mails} mails in this thread.${cut.length ? ` ${cut.join(', ')} ${cut.length === 1 ? 'comes' : 'come'} in parts (NAME.part1of3.EXT, ...): join the parts in order to get the whole file.` : ''}`,
  mailPart: (n: number, mails: number) => `Transcript files, mail ${n} of ${mails}.`,
  unfetched: () =>
    'I could not download the file you sent, even after several tries, so I did not transcribe it and nothing was charged. Please send it again.',
  checkoutUnavailable: (held: number) =>
    `I could not create the payment link just now; I keep trying and will send it as soon as it works.${held > 0 ? ` The ${minutes(held)} of your balance held for this recording go back if no link comes within about a day.` : ''}`,
  paymentsOff: (missing: number) =>
    `Your balance is ${minutes(missing)} short for this, and payments are not set up on this service, so I can't transcribe it. Nothing was charged.`,
  paid: (balance: number) => `Payment received, thank you. Transcribing now. ${minutes(balance)} left after this.`,
  paymentPending: () =>
    'Thank you: your payment is on its way. I will transcribe as soon as it arrives; a bank payment can take a few days.',
  paymentFailed: (heldSeconds: number) =>
    `Your payment did not go through, so I did not transcribe this.${heldSeconds > 0 ? ` I gave back the ${minutes(heldSeconds)} held for it.` : ''} Send the recording again to try once more.`,
  expired: (keepHours = 0) =>
    keepHours > 0
      ? `The payment link expired, so I did not transcribe this. If your payment still reaches me within ${keepHours} h I will; then the recording is deleted. Send it again whenever you like.`
      : 'The payment link expired, so I deleted the recording. Send it again whenever you like.',
  underpaid: (paid: string, bought: number, missing: number, balance: number) =>
    `I received ${paid}, which buys ${minutes(bought)}, but this recording needed ${minutes(missing)} more, so I did not transcribe it. You now have ${minutes(balance)}; send the recording again to use it.`,
  credited: (paid: string, bought: number, balance: number) =>
    `I received your payment of ${paid} after the recording it was for was closed, so I added ${minutes(bought)} to your balance instead: you now have ${minutes(balance)}. Send the recording again to use it.`,
  paymentHeld: (paid: string) =>
    `I received a payment of ${paid} that I cannot match to a price. The operator has been told and will sort it out.`,
  paymentHeldClosed: (paid: string, heldSeconds: number) =>
    `I received a payment of ${paid} that I cannot match to a price, so I did not transcribe this recording${heldSeconds > 0 ? ` and gave back the ${minutes(heldSeconds)} held for it` : ''}. The operator has been told and will sort out the payment.`,
  delivered: () => 'Done. Here is your transcript.',
  finished: () => 'Done: the transcript is below.',
  noSpeech: (name: string) => `${name}: I heard no speech in this recording.`,
  cut: (name: string, covered: number) =>
    `${name}: the recording runs longer than the ${clock(covered)} it measured as when you sent it, so I transcribed only the first ${clock(covered)}, which is what you were charged for. To transcribe the rest, send that part as a new file and I will quote it.`,
  failed: (seconds: number) => `Sorry, the transcription failed. I gave back the ${minutes(seconds)} it cost.`,
  notStarted: (seconds: number) =>
    `Sorry, I could not start transcribing this: the transcription servers kept refusing the job. I gave back the ${minutes(seconds)} it cost.`,
  partlyFailed: (names: string[], seconds: number) =>
    `I could not transcribe ${names.join(', ')}; I gave back the ${minutes(seconds)} ${names.length === 1 ? 'it' : 'they'} cost.`,
  partlyFailedOnRetry: (names: string[]) =>
    `I could not transcribe ${names.join(', ')}; ${names.length === 1 ? 'its' : 'their'} seconds were given back when the first try failed.`,
  tooFast: () => 'You are sending faster than I can keep up with; please wait a minute.',
  busy: () => 'Something went wrong on my side while receiving this; please send it again in a minute.',
};

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${+(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${+(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.ceil(bytes / 1024)} KB`;
}
