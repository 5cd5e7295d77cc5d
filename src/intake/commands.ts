import type { Db } from '../db';
import { isWhisperLanguage } from '../domain/languages';
import type { ModelInfo } from '../domain/models';
import { isTranscriptFormat, type TranscriptFormat } from '../formats';
import type { Ledger } from '../ledger';
import { text } from '../messages';
import { owedSeconds } from '../orders/debts';
import type { ChannelName, ChatCommand } from '../ports/channel';
import { defaultFormats, setUserFormats, setUserLanguage, setUserTranslate, storedFormats, type User } from '../users';

/** What a command's answer depends on besides the user. */
export interface CommandContext {
  freeSeconds: number;
  /** The model recordings go through: an English-only one refuses other languages and translation. */
  model: ModelInfo;
  channel: ChannelName;
}

/** The answer to a choice; `refused` when nothing was changed. */
export interface ChoiceAnswer {
  text: string;
  refused: boolean;
}

/** Answers a chat command; returns the reply text. Runs inside the intake transaction. */
export function handleCommand(db: Db, ledger: Ledger, user: User, command: ChatCommand, context: CommandContext): string {
  const { freeSeconds, model, channel } = context;
  switch (command.name) {
    case 'start':
      return text.start(ledger.balance(user.id), freeSeconds, channel, model);
    case 'help':
      return text.help(freeSeconds, channel, model);
    case 'balance': {
      const owed = owedSeconds(db, user.id);
      return owed > 0 ? `${text.balance(ledger.balance(user.id))} ${text.owed(owed)}` : text.balance(ledger.balance(user.id));
    }
    default:
      return applyChoice(db, user, command, context)?.text ?? text.unknownCommand(command.name.slice(0, 32));
  }
}

/**
 * Applies `/language`, `/translate` or `/format` to the user's stored choices; undefined for any other
 * command. On an English-only model, another language and translation are refused: the model would
 * return English-sounding nonsense without a word.
 */
export function applyChoice(db: Db, user: User, command: ChatCommand, context: CommandContext): ChoiceAnswer | undefined {
  const { model, channel } = context;
  const args = command.args.trim().toLowerCase();
  const done = (answer: string): ChoiceAnswer => ({ text: answer, refused: false });
  const refused = (answer: string): ChoiceAnswer => ({ text: answer, refused: true });
  switch (command.name) {
    case 'language': {
      if (!isWhisperLanguage(args)) return refused(text.languageInvalid(channel));
      if (model.englishOnly && args !== 'auto' && args !== 'en') return refused(text.languageEnglishOnly(args, model));
      setUserLanguage(db, user.id, args === 'auto' ? null : args);
      return done(text.languageSet(args, model));
    }
    case 'translate': {
      const on = ON_OFF.get(args);
      if (on === undefined) return refused(text.translateInvalid(channel));
      if (on && model.englishOnly) return refused(text.translateEnglishOnly(model));
      setUserTranslate(db, user.id, on);
      return done(text.translateSet(on));
    }
    case 'format': {
      if (args === '') return done(text.formatSet(storedFormats(user.formats)));
      if (args === 'default') {
        setUserFormats(db, user.id, null);
        return done(text.formatSet(defaultFormats));
      }
      const formats = parseFormats(args);
      if (!formats) return refused(text.formatInvalid(channel));
      setUserFormats(db, user.id, formats);
      return done(text.formatSet(formats));
    }
    default:
      return undefined;
  }
}

const ON_OFF = new Map([
  ['on', true],
  ['off', false],
  ['yes', true],
  ['no', false],
]);

/** `srt vtt`, `srt, vtt`, `.vtt`: the formats named, each once, or undefined when one is unknown. */
function parseFormats(args: string): TranscriptFormat[] | undefined {
  const words = args
    .split(/[\s,;]+/)
    .map((word) => word.replace(/^\./, ''))
    .filter(Boolean);
  if (words.length === 0 || words.length > 8 || !words.every(isTranscriptFormat)) return undefined;
  return storedFormats(words.join(','));
}
