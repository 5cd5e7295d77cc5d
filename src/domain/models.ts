/** What the service knows about a Whisper model from its name alone. */

/**
 * The model's short name from its file or name: `/models/ggml-tiny.en.bin` -> `tiny.en`,
 * `ggml-large-v3-turbo-q5_0.bin` -> `large-v3-turbo-q5_0`.
 */
export function modelName(pathOrName: string): string {
  return (pathOrName.split(/[\\/]/).pop() ?? pathOrName).replace(/^ggml-/, '').replace(/\.bin$/, '');
}

/**
 * True for Whisper's English-only models (`tiny.en`, `base.en-q5_1`, ...): they hear every recording as
 * English, cannot detect a language and cannot translate.
 */
export function isEnglishOnlyModel(pathOrName: string): boolean {
  return /\.en(?:$|[-_.])/.test(modelName(pathOrName));
}

/** The model the service's recordings go through, as users are told about it. */
export interface ModelInfo {
  name: string;
  englishOnly: boolean;
}

/** What `/help` and the language commands say about the configured model (a path or a name). */
export function modelInfo(pathOrName: string): ModelInfo {
  return { name: modelName(pathOrName), englishOnly: isEnglishOnlyModel(pathOrName) };
}
