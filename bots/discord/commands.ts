import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import type { ChatCommand } from '../../src/ports/channel';

/** What each command is called and shows in Discord's command picker. */
const COMMANDS: Pick<RESTPostAPIChatInputApplicationCommandsJSONBody, 'name' | 'description' | 'options'>[] = [
  { name: 'start', description: 'What this bot does and your free minutes' },
  { name: 'help', description: 'How to send audio and what it costs' },
  { name: 'balance', description: 'Seconds of transcription left' },
  {
    name: 'language',
    description: 'Set the spoken language of your next recordings',
    options: [
      {
        type: ApplicationCommandOptionType.String,
        name: 'code',
        description: 'A language code such as en, de or es, or auto to detect it',
        required: true,
        min_length: 2,
        max_length: 8,
      },
    ],
  },
  {
    name: 'translate',
    description: 'Translate your next recordings into English',
    options: [
      {
        type: ApplicationCommandOptionType.String,
        name: 'mode',
        description: 'on to translate, off to transcribe in the spoken language',
        required: true,
        choices: [
          { name: 'on', value: 'on' },
          { name: 'off', value: 'off' },
        ],
      },
    ],
  },
  {
    name: 'format',
    description: 'Choose the files your transcripts come with',
    options: [
      {
        type: ApplicationCommandOptionType.String,
        name: 'formats',
        description: 'One or more of txt, srt, vtt, json (for example: srt vtt), or default',
        required: false,
        max_length: 40,
      },
    ],
  },
];

/**
 * The slash commands registered globally at every start. The core answers them; Discord only needs
 * their names and their options. Usable in servers and in the bot's DMs.
 */
export const SLASH_COMMANDS: RESTPostAPIChatInputApplicationCommandsJSONBody[] = COMMANDS.map((command) => ({
  ...command,
  type: ApplicationCommandType.ChatInput,
  integration_types: [ApplicationIntegrationType.GuildInstall],
  contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
}));

/** The core's command for a slash command: its name and its options' values as the arguments. */
export function commandOf(name: string, options: readonly { value?: unknown }[]): ChatCommand {
  const args = options
    .map((option) => option.value)
    .filter((value) => value !== undefined && value !== null)
    .map(String)
    .join(' ')
    .trim();
  return { name: name.toLowerCase(), args };
}
