import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** One ggml Whisper model as the official whisper.cpp model repository publishes it. */
export interface ModelSpec {
  /** File name in the repository and on disk: `ggml-<name>.bin`. */
  file: string;
  bytes: number;
  /** SHA-256 of the file (the repository's Git LFS object id). */
  sha256: string;
  /** SHA-1 from the table in whisper.cpp's own `models/README.md`, where it lists one: a second, independent check. */
  sha1?: string;
  /** `.en` models transcribe English only; the others take any language and translate. */
  englishOnly: boolean;
}

/** The official whisper.cpp model repository on Hugging Face; `WHISPER_MODEL_BASE_URL` points elsewhere (a mirror). */
export const DEFAULT_MODEL_BASE_URL = 'https://huggingface.co/ggerganov/whisper.cpp/resolve/main';

const spec = (name: string, bytes: number, sha256: string, sha1?: string): [string, ModelSpec] => [
  name,
  { file: `ggml-${name}.bin`, bytes, sha256, ...(sha1 ? { sha1 } : {}), englishOnly: /\.en(-|$)/.test(name) },
];

/**
 * Every model `npm run model` fetches, pinned by size and SHA-256. The SHA-256s are the Git LFS object ids the
 * repository publishes (revision 5359861c739e955e79d9a303bcbc70fb988958b1), each checked against several
 * independent projects that pin the same file; the SHA-1s come from whisper.cpp's `models/README.md` as shipped in
 * npm. Both are checked when present: a file must match every pin it has.
 */
export const MODELS: ReadonlyMap<string, ModelSpec> = new Map([
  spec('tiny', 77_691_713, 'be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21', 'bd577a113a864445d4c299885e0cb97d4ba92b5f'),
  spec('tiny-q5_1', 32_152_673, '818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7'),
  spec('tiny-q8_0', 43_537_433, 'c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca'),
  spec(
    'tiny.en',
    77_704_715,
    '921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f',
    'c78c86eb1a8faa21b369bcd33207cc90d64ae9df',
  ),
  spec('tiny.en-q5_1', 32_166_155, 'c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b'),
  spec('tiny.en-q8_0', 43_550_795, '5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94'),
  spec('base', 147_951_465, '60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe', '465707469ff3a37a2b9b8d8f89f2f99de7299dac'),
  spec('base-q5_1', 59_707_625, '422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898'),
  spec('base-q8_0', 81_768_585, 'c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9'),
  spec(
    'base.en',
    147_964_211,
    'a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002',
    '137c40403d78fd54d454da0f9bd998f78703390c',
  ),
  spec('base.en-q5_1', 59_721_011, '4baf70dd0d7c4247ba2b81fafd9c01005ac77c2f9ef064e00dcf195d0e2fdd2f'),
  spec('base.en-q8_0', 81_781_811, 'a4d4a0768075e13cfd7e19df3ae2dbc4a68d37d36a7dad45e8410c9a34f8c87e'),
  spec(
    'small',
    487_601_967,
    '1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b',
    '55356645c2b361a969dfd0ef2c5a50d530afd8d5',
  ),
  spec('small-q5_1', 190_085_487, 'ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb'),
  spec('small-q8_0', 264_464_607, '49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f'),
  spec(
    'small.en',
    487_614_201,
    'c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d',
    'db8a495a91d927739e50b3fc1cc4c6b8f6c2d022',
  ),
  spec('small.en-q5_1', 190_098_681, 'bfdff4894dcb76bbf647d56263ea2a96645423f1669176f4844a1bf8e478ad30'),
  spec('small.en-q8_0', 264_477_561, '67a179f608ea6114bd3fdb9060e762b588a3fb3bd00c4387971be4d177958067'),
  spec(
    'medium',
    1_533_763_059,
    '6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208',
    'fd9727b6e1217c2f614f9b698455c4ffd82463b4',
  ),
  spec('medium-q5_0', 539_212_467, '19fea4b380c3a618ec4723c3eef2eb785ffba0d0538cf43f8f235e7b3b34220f'),
  spec('medium-q8_0', 823_369_779, '42a1ffcbe4167d224232443396968db4d02d4e8e87e213d3ee2e03095dea6502'),
  spec(
    'medium.en',
    1_533_774_781,
    'cc37e93478338ec7700281a7ac30a10128929eb8f427dda2e865faa8f6da4356',
    '8c30f0e44ce9560643ebd10bbe50cd20eafd3723',
  ),
  spec('medium.en-q5_0', 539_225_533, '76733e26ad8fe1c7a5bf7531a9d41917b2adc0f20f2e4f5531688a8c6cd88eb0'),
  spec('medium.en-q8_0', 823_382_461, '43fa2cd084de5a04399a896a9a7a786064e221365c01700cea4666005218f11c'),
  spec(
    'large-v3',
    3_095_033_483,
    '64d182b440b98d5203c4f9bd541544d84c605196c4f7b845dfa11fb23594d1e2',
    'ad82bf6a9043ceed055076d0fd39f5f186ff8062',
  ),
  spec(
    'large-v3-q5_0',
    1_081_140_203,
    'd75795ecff3f83b5faa89d1900604ad8c780abd5739fae406de19f23ecd98ad1',
    'e6e2ed78495d403bef4b7cff42ef4aaadcfea8de',
  ),
  spec(
    'large-v3-turbo',
    1_624_555_275,
    '1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69',
    '4af2b29d7ec73d781377bfd1758ca957a807e941',
  ),
  spec(
    'large-v3-turbo-q5_0',
    574_041_195,
    '394221709cd5ad1f40c46e6031ca61bce88931e6e088c188294c6d5a55ffa7e2',
    'e050f7970618a659205450ad97eb95a18d69c9ee',
  ),
  spec('large-v3-turbo-q8_0', 874_188_075, '317eb69c11673c9de1e1f0d459b253999804ec71ac4c23c17ecf5fbe24e259a1'),
]);

/** The model the install prepares without any download (converted from an npm package): English only. */
export const PREPARED_MODEL_FILE = 'ggml-tiny.en.bin';

/** The file in the models folder that names the default model, written by `npm run model`. */
export const DEFAULT_MARKER = 'default';

/** Whether a `WHISPER_MODEL` value is a path (has a folder or ends in `.bin`) rather than a model name. */
export function isModelPath(value: string): boolean {
  return /[/\\]/.test(value) || value.endsWith('.bin');
}

/** Thrown for a model name that is not in the catalogue; its message lists what is. */
export class UnknownModelError extends Error {
  constructor(name: string) {
    super(`unknown Whisper model ${JSON.stringify(name)}; known models: ${[...MODELS.keys()].join(', ')}`);
  }
}

/** The catalogue entry for `name`, or an `UnknownModelError`. */
export function modelSpec(name: string): ModelSpec {
  const found = MODELS.get(name);
  if (!found) throw new UnknownModelError(name);
  return found;
}

/**
 * The model file to load: `WHISPER_MODEL` as a path, or as a name (`base.en`) inside the models folder; unset, the
 * model `npm run model` made the default, else the prepared tiny.en.
 */
export function resolveModelPath(setting: string | undefined, modelsDir: string): string {
  if (setting) return isModelPath(setting) ? resolve(setting) : join(modelsDir, modelSpec(setting).file);
  const marker = join(modelsDir, DEFAULT_MARKER);
  if (existsSync(marker)) {
    const file = readFileSync(marker, 'utf8').trim();
    // Only a bare file name inside the models folder: a marker cannot send the worker anywhere else.
    if (/^ggml-[\w.-]+\.bin$/.test(file)) return join(modelsDir, file);
  }
  return join(modelsDir, PREPARED_MODEL_FILE);
}
