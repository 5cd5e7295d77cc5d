// The language table is part of the worker's contract with the service, which checks users' choices against it.
export { isWhisperLanguage, languageCode, whisperLanguageCodes } from '../../src/domain/languages';
