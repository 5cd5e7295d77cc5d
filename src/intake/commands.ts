import type { Db } from '../db';
import type { Ledger } from '../ledger';
import { text } from '../messages';
import type { ChatCommand } from '../ports/channel';
import { setUserLanguage, type User } from '../users';

const LANGUAGE = /^[a-z]{2,3}$/;

/** Answers a chat command; returns the reply text. Runs inside the intake transaction. */
export function handleCommand(db: Db, ledger: Ledger, user: User, command: ChatCommand, freeSeconds: number): string {
  switch (command.name) {
    case 'start':
      return text.start(ledger.balance(user.id), freeSeconds);
    case 'help':
      return text.help(freeSeconds);
    case 'balance':
      return text.balance(ledger.balance(user.id));
    case 'language': {
      const code = command.args.trim().toLowerCase();
      if (code === 'auto') {
        setUserLanguage(db, user.id, null);
        return text.languageSet('auto');
      }
      if (!LANGUAGE.test(code)) return text.languageInvalid();
      setUserLanguage(db, user.id, code);
      return text.languageSet(code);
    }
    default:
      return text.unknownCommand(command.name.slice(0, 32));
  }
}
